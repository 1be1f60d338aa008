"""Fleet checks, pure: hosts that cannot be reached, and hosts that drifted from the fleet's release."""

from __future__ import annotations

from freigabe.core.findings import Finding, finding
from freigabe.core.fleet import drifted, fleet_release


def check_reachable(errors: dict[str, str], on_unreachable: str) -> list[Finding]:
    """A host that does not answer: a deploy under `abort` stops at it (P1); under `skip` it is left
    out and drifts (P2)."""
    return [
        finding(
            "server.host-reachable",
            "server",
            "Every host of the fleet answers",
            subject=name,
            soll="every host answers over SSH",
            ist=f"{name} cannot be reached: {why}",
            impact="P2" if on_unreachable == "skip" else "P1",
            ok=False,
            evidence={"host": name, "error": why, "on_unreachable": on_unreachable},
            fix=f"bring {name} back; once it answers, `freigabe status ENV` shows whether it needs catching up",
        )
        for name, why in errors.items()
    ]


def check_drift(currents: dict[str, str | None], roles: dict[str, list[str]]) -> list[Finding]:
    """Every host serves the fleet's release. A host on another release (left out by a deploy, switched
    by hand, or not rolled back) is drift: shown with the command that brings it back in line."""
    if len(currents) < 2:
        return []
    release = fleet_release(currents)
    off = drifted(currents)
    if not off:
        return [
            finding(
                "server.fleet-drift",
                "server",
                "Every host serves the fleet's release",
                soll="one release on every host",
                ist=f"{len(currents)} hosts serve {release or 'nothing'}",
                impact="P2",
                ok=True,
                evidence={"release": release, "hosts": currents},
            )
        ]
    listed = ", ".join(f"{n} serves {c or 'nothing'}" for n, c in off.items())
    names = ",".join(off)
    return [
        finding(
            "server.fleet-drift",
            "server",
            "Every host serves the fleet's release",
            soll="one release on every host",
            ist=f"the fleet serves {release or 'nothing'}, but {listed}",
            impact="P2",
            ok=False,
            status="warn",
            evidence={"release": release, "hosts": currents, "drifted": off, "roles": {n: roles.get(n) for n in off}},
            fix=(
                f"catch them up with the fleet's bundle: `freigabe deploy ENV --hosts {names} --bundle BUNDLE`, "
                f"or return them to it: `freigabe rollback ENV --hosts {names}`"
            ),
        )
    ]
