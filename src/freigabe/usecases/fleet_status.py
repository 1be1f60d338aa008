"""A fleet's status, and the maintenance commands (unlock, cleanup) on each of its hosts.

`status` shows every host's live release (verified or not), marks and lock, and the fleet's
release with its drift: hosts on another release, hosts that cannot be reached, each with the
command that resolves it. `unlock` and `cleanup` are plans run on the chosen hosts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from freigabe.adapters.inventory import environment_hosts, select
from freigabe.adapters.target import Target, close_all, open_targets
from freigabe.config import LoadedConfig
from freigabe.core.fleet import FleetPolicy, Host, drifted, fleet_release
from freigabe.core.plan import HostPlan, Plan, PlanInputs, Step
from freigabe.core.redact import REDACTOR
from freigabe.core.releases import is_leftover, previous_good, select_for_removal
from freigabe.core.steps import Cleanup, LockClear
from freigabe.engine import lock
from freigabe.engine.session import run_plan
from freigabe.errors import LockHeld
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.status import Status, host_status


@dataclass
class FleetStatus:
    environment: str
    deploy_path: str
    hosts: dict[str, Status] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)
    release: str | None = None  # what most hosts serve
    drift: dict[str, str | None] = field(default_factory=dict)
    attention: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "deploy_path": self.deploy_path,
            "fleet": {"release": self.release, "drift": self.drift, "unreachable": self.unreachable},
            "hosts": {name: {**s.__dict__, "roles": self.roles.get(name)} for name, s in self.hosts.items()},
            "attention": self.attention,
        }


def fleet_status(loaded: LoadedConfig, env_name: str, runs: int = 8) -> FleetStatus:
    env = loaded.config.environment(env_name)
    hosts = environment_hosts(loaded, env_name)
    result = FleetStatus(env_name, env.deploy_path, roles={h.name: list(h.roles) for h in hosts})
    opened = open_targets(loaded, env_name, hosts)
    try:
        reachable = {n: t for n, t in opened.items() if isinstance(t, Target)}
        result.unreachable = {n: t.message for n, t in opened.items() if not isinstance(t, Target)}
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(reachable)))) as pool:
            states = dict(
                zip(reachable, pool.map(lambda t: host_status(loaded, t, runs), reachable.values()), strict=True)
            )
    finally:
        close_all(opened)
    result.hosts = {h.name: states[h.name] for h in hosts if h.name in states}
    currents = {n: s.current for n, s in result.hosts.items()}
    result.release = fleet_release(currents)
    result.drift = drifted(currents)
    for name, why in result.unreachable.items():
        result.attention.append(
            {
                "problem": f"{name} cannot be reached ({why})",
                "command": f"bring it back, then `freigabe status {env_name}`",
            }
        )
    if result.drift:
        names = ",".join(result.drift)
        listed = ", ".join(f"{n} serves {c or 'nothing'}" for n, c in result.drift.items())
        result.attention.append(
            {
                "problem": f"drift: the fleet serves {result.release or 'nothing'}, but {listed}",
                "command": f"freigabe deploy {env_name} --hosts {names} --bundle BUNDLE (catch up), "
                f"or freigabe rollback {env_name} --hosts {names}",
            }
        )
    for name, state in result.hosts.items():
        result.attention += [{**item, "problem": f"{name}: {item['problem']}"} for item in state.attention]
    return result


def host_plan_of(
    loaded: LoadedConfig, env_name: str, kind: Any, hosts: dict[str, tuple[Host, str | None, list[Step]]]
) -> Plan:
    """A maintenance plan over chosen hosts, each with its own steps (nothing is switched)."""
    env = loaded.config.environment(env_name)
    plans = [
        HostPlan(
            name=n,
            target=h.target,
            roles=list(h.roles),
            url=h.url,
            current_release=c,
            does=", ".join(s.title for s in steps),
            steps=steps,
            rollback_steps=[],
        )
        for n, (h, c, steps) in hosts.items()
    ]
    currents = {n: c for n, (_, c, _) in hosts.items()}
    return Plan(
        kind=kind,
        environment=env_name,
        target=f"{len(plans)} hosts",
        deploy_path=env.deploy_path,
        release=fleet_release(currents) or "",
        previous_release=fleet_release(currents),
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=fleet_release(currents)),
        approval_phrase="",
        steps=[],
        rollback_steps=[],
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        hosts=plans,
        fleet=FleetPolicy(batches=[list(hosts)], concurrency=env.fleet.concurrency),
    )


def _read(loaded: LoadedConfig, env_name: str, wanted: list[str] | None) -> dict[str, tuple[Host, Target]]:
    hosts = select(environment_hosts(loaded, env_name), wanted, env_name)
    opened = open_targets(loaded, env_name, hosts)
    by_name = {h.name: h for h in hosts}
    missing = {n: t for n, t in opened.items() if not isinstance(t, Target)}
    if missing:
        close_all(opened)
        name, error = next(iter(missing.items()))
        assert not isinstance(error, Target)
        raise type(error)(f"{name}: {error.message}; run again with --hosts naming the hosts that answer")
    return {n: (by_name[n], t) for n, t in opened.items() if isinstance(t, Target)}


def unlock_fleet(loaded: LoadedConfig, env_name: str, wanted: list[str] | None) -> list[str]:
    """Clear the locks runs that are gone left on the chosen hosts (a live owner's lock is refused)."""
    opened = _read(loaded, env_name, wanted)
    chosen: dict[str, tuple[Host, str | None, list[Step]]] = {}
    cleared = []
    try:
        for name, (host, target) in opened.items():
            held = lock.read_lock(target.transport, target.layout)
            if held is None:
                continue
            state = lock.liveness(held, lock.read_heartbeat(target.transport, target.layout))
            if state.alive:
                raise LockHeld(
                    f"the lock of {env_name} on {name} is {lock.describe(held)} and its owner is alive ({state.why}); "
                    "it is not cleared — wait for that run to finish"
                )
            step = Step(
                id="lock.clear",
                title=f"Clear the lock of run {held.run} (refused while its owner is alive)",
                action="lock.clear",
                args=LockClear(run=held.run, require_dead=True).data(),
                source="Lock",
            )
            chosen[name] = (host, target.current(), [step])
            cleared.append(f"{name}: {lock.describe(held)}")
    finally:
        close_all({n: t for n, (_, t) in opened.items()})
    if chosen:
        with InterruptGuard():
            run_plan(loaded, host_plan_of(loaded, env_name, "unlock", chosen), redactor=REDACTOR, take_lock=False)
    return cleared


def cleanup_fleet(
    loaded: LoadedConfig, env_name: str, wanted: list[str] | None, dry_run: bool
) -> dict[str, tuple[list[str], list[str]]]:
    """Retention on every chosen host: (releases removed or that would be, leftovers) per host."""
    opened = _read(loaded, env_name, wanted)
    env = loaded.config.environment(env_name)
    found: dict[str, tuple[list[str], list[str]]] = {}
    chosen: dict[str, tuple[Host, str | None, list[Step]]] = {}
    try:
        for name, (host, target) in opened.items():
            releases = target.releases()
            current = target.current()
            marks = {k: v.get("mark", "") for k, v in target.marks().items()}
            stray = [n for n in target.transport.listdir(target.layout.releases) if is_leftover(n, set())]
            stray += [n for n in target.transport.listdir(target.layout.deploy_path) if is_leftover(n, set())]
            protected = {current, previous_good(releases, marks, current)}
            doomed = select_for_removal(releases, keep=env.keep_releases, protected=protected)
            found[name] = (doomed, stray)
            if doomed or stray:
                step = Step(
                    id="cleanup",
                    title=f"Remove {', '.join(doomed) or 'no old releases'} and the leftovers of crashed runs",
                    action="cleanup",
                    args=Cleanup(keep=env.keep_releases, remove=doomed, protect=[r for r in protected if r]).data(),
                    source="Retention",
                )
                chosen[name] = (host, current, [step])
    finally:
        close_all({n: t for n, (_, t) in opened.items()})
    if dry_run or not chosen:
        return found
    with InterruptGuard():
        result = run_plan(loaded, host_plan_of(loaded, env_name, "cleanup", chosen), redactor=REDACTOR)
    for name, host_result in result.hosts.items():
        details = host_result.steps[-1][1].details if host_result.steps else {}
        found[name] = (list(details.get("removed", [])), list(details.get("leftovers", [])))
    return found
