"""The production side of `freigabe e2e`: the reference plan's "PRODUCTION DEPLOY ENTWURF".

Before: the source environment's last E2E passed (a rolled-back staging keeps production
blocked), the source has been stable for `stable_for` by its GitHub Deployments and, where
freigabe deployed there, by freigabe's ledger. During: the bundle is the source's (the same
build run, the same SHA-256) and the pre-flight passes before the deploy is dispatched.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from freigabe.adapters.github import GitHubError
from freigabe.adapters.github_actions import Actions
from freigabe.config import LoadedConfig
from freigabe.core.e2e_plan import E2EPlan
from freigabe.core.findings import Finding, finding
from freigabe.errors import ApprovalError, E2EFailed, FreigabeError
from freigabe.usecases.e2e_verify import read_state
from freigabe.usecases.e2e_watch import Progress, parse_time


def _last(folder: Path, env_name: str) -> dict[str, Any] | None:
    path = folder / f"{env_name}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else None


def _github_stability(actions: Actions, source: str, need: float) -> tuple[bool, str]:
    deployments = actions.deployments(source, 10)
    if not deployments:
        return False, f"GitHub has no deployment of {source}"
    newest = deployments[0]
    statuses = actions.deployment_statuses(int(newest["id"]))
    if not statuses or statuses[0].get("state") != "success":
        state = statuses[0].get("state") if statuses else "no status"
        return False, f"the newest deployment of {source} ({newest['id']}) is {state}"
    since = parse_time(statuses[0].get("created_at")) or time.time()
    age = time.time() - since
    if age < need:
        return False, f"{source} has been deployed for {age:.0f} s of the required {need:.0f} s (GitHub Deployments)"
    return True, f"deployment {newest['id']} of {source} has been a success for {age:.0f} s"


def check(loaded: LoadedConfig, env_name: str, actions: Actions, folder: Path) -> tuple[dict[str, Any], list[Finding]]:
    env = loaded.config.environment(env_name)
    assert env.promotion is not None
    source, need = env.promotion.requires_stable_in, env.promotion.stable_for
    last = _last(folder, source)
    passed = bool(last and last.get("verdict") == "PASS")
    if last is None:
        ist = f"no E2E of {source} recorded yet"
    elif passed:
        ist = f"E2E {str(last['plan'])[:12]} passed: {last.get('release')} ({last.get('ts')})"
    else:
        ist = f"the last E2E of {source} did not pass: {last.get('summary')}"
    rows = [
        finding(
            "e2e.source-passed",
            "github",
            f"{source} E2E passed",
            subject=source,
            soll=f"the last `freigabe e2e {source}` passed",
            ist=ist,
            impact="P0",
            ok=passed,
            fix=f"fix {source} and run `freigabe e2e {source}` until it passes; {env_name} stays blocked until then",
        ),
    ]
    try:
        stable, detail = _github_stability(actions, source, need)
    except GitHubError as exc:
        stable, detail = False, f"GitHub Deployments unreadable: {exc.message}"
    if stable and read_state(loaded, source, with_ledger=True).entries:
        from freigabe.usecases.promote import check_stability

        try:
            freigabe_stable = check_stability(loaded, env_name)
            detail += f"; freigabe's ledger: {freigabe_stable.release} verified for {freigabe_stable.seconds:.0f} s"
        except ApprovalError as exc:
            stable, detail = False, exc.message.removeprefix("NO-GO: ")
    rows.append(
        finding(
            "e2e.source-stable",
            "github",
            f"{source} stable",
            subject=source,
            soll=f"{source} healthy and stable for {need:.0f} s",
            ist=detail,
            impact="P0",
            ok=stable,
            fix=f"wait until {source} has been stable for {need:.0f} s",
        )
    )
    promotion = {
        "source": source,
        "sha": (last or {}).get("sha"),
        "build_run_id": (last or {}).get("build_run_id"),
        "bundle_sha256": (last or {}).get("bundle_sha256"),
        "source_release": (last or {}).get("release"),
        "source_e2e": (last or {}).get("plan"),
    }
    return promotion, rows


def preflight(
    loaded: LoadedConfig, plan: E2EPlan, actions: Actions, build_run_id: int, progress: Progress
) -> dict[str, Any]:
    """Download the source's bundle, prove it is the same bytes, and run the read-only pre-flight."""
    from freigabe.usecases.preflight import run_preflight

    assert plan.promotion is not None
    name = plan.bundle_artifact.replace("{sha}", plan.sha)
    found = [a for a in actions.artifacts(build_run_id) if a.get("name") == name]
    if not found:
        raise E2EFailed(f"build run {build_run_id} has no artifact {name} (expired?); the pre-flight needs the bundle")
    folder = loaded.root / ".freigabe" / "e2e" / "bundles" / plan.sha
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(actions.artifact_zip(found[0]))) as zf:
        members = [m for m in zf.namelist() if m.endswith(".tar.gz") and "/" not in m.strip("/")]
        if len(members) != 1:
            raise E2EFailed(f"artifact {name} holds {len(members)} bundles, not one")
        bundle = folder / members[0]
        bundle.write_bytes(zf.read(members[0]))
        if f"{members[0]}.sha256" in zf.namelist():
            (folder / f"{members[0]}.sha256").write_bytes(zf.read(f"{members[0]}.sha256"))
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    want = plan.promotion.get("bundle_sha256")
    if want and digest != want:
        raise E2EFailed(
            f"the bundle of build run {build_run_id} has SHA-256 {digest[:12]}…, not the {want[:12]}… "
            f"live on {plan.promotion['source']}; production takes the exact bytes"
        )
    progress.note(
        f"pre-flight on {plan.environment} with {bundle.name} (SHA-256 {digest[:12]}…, as on "
        f"{plan.promotion['source']})"
    )
    try:
        result = run_preflight(loaded, plan.environment, bundle)
    except FreigabeError as exc:
        raise E2EFailed(f"the pre-flight on {plan.environment} failed: {exc.message}") from None
    return {
        "bundle": bundle.name,
        "sha256": digest,
        "outcome": result.outcome,
        "steps": [s.id for s, o in result.steps if o.ok],
    }
