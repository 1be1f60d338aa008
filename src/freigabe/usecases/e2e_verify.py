"""Phases 4 and 5 of the E2E, on e2e's own measurements: the target's `current` (through the
transport, read-only), the release probe, the health checks with the token, every manifest
asset, and the ledger artifact checked against the target's own ledger. Then the evidence."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freigabe.adapters.health import check_assets, probe_release, run_health_check
from freigabe.adapters.target import open_target
from freigabe.config import LoadedConfig
from freigabe.core import ledger
from freigabe.core.pipeline import health_step_args
from freigabe.core.redact import Redactor
from freigabe.core.urls import resolve_url
from freigabe.engine.session import target_entries
from freigabe.usecases.status import list_releases


@dataclass
class TargetState:
    current: str | None
    releases: list[str]
    entries: list[dict[str, Any]] = field(default_factory=list)


def read_state(loaded: LoadedConfig, env_name: str, with_ledger: bool = False) -> TargetState:
    target = open_target(loaded, env_name)
    try:
        releases = sorted(list_releases(target), reverse=True)[:3]
        entries = target_entries(loaded, target) if with_ledger else []
        return TargetState(target.current(), releases, entries)
    finally:
        target.close()


def _creds(holder: Any) -> dict[str, Any]:
    return {
        "bearer_token_env": holder.bearer_token_env,
        "basic_auth_user": holder.basic_auth_user,
        "basic_auth_password_env": holder.basic_auth_password_env,
    }


@dataclass
class OwnChecks:
    probe: tuple[bool, str]
    health: tuple[bool, str]
    assets: tuple[bool, str]
    details: dict[str, Any]


def own_checks(loaded: LoadedConfig, env_name: str, current: str | None) -> OwnChecks:
    env = loaded.config.environment(env_name)
    details: dict[str, Any] = {}
    probe_cfg = env.readiness.probe
    if probe_cfg is None:
        probe = (True, "no release probe configured")
    else:
        args = {
            "url": resolve_url(env.url, probe_cfg.url),
            "source": probe_cfg.source,
            "header": probe_cfg.header,
            "json_key": probe_cfg.json_key,
            **_creds(probe_cfg),
        }
        answered, detail = probe_release(args)
        probe = (answered == current and current is not None, f"{args['url']} names {answered or 'nothing'} ({detail})")
    results = [run_health_check(health_step_args(env, check)) for check in env.health]
    details["health"] = [r.to_json() for r in results]
    passed = sum(r.ok for r in results)
    health = (
        passed == len(results),
        f"{passed}/{len(results)} passed" + "".join(f"; {r.name}: {r.reason}" for r in results if not r.ok),
    )
    if env.assets.manifest or env.assets.extra:
        report = check_assets(
            {
                "manifest_url": resolve_url(env.url, env.assets.manifest) if env.assets.manifest else None,
                "base_url": resolve_url(env.url, env.assets.base),
                "extra_urls": [resolve_url(env.url, p) for p in env.assets.extra],
                "timeout": env.assets.timeout,
                **_creds(env.assets),
            }
        )
        details["assets"] = report.checked
        assets = (report.ok, report.problem or f"{len(report.checked)} assets served")
    else:
        assets = (True, "no manifest configured")
    return OwnChecks(probe, health, assets, details)


@dataclass
class LedgerEvidence:
    ok: bool
    detail: str
    run: str | None = None
    outcome: str | None = None
    bundle_sha256: str | None = None
    entries: int = 0


def ledger_evidence(data: bytes | None, env_name: str, target_entries: list[dict[str, Any]]) -> LedgerEvidence:
    """The artifact's ledger copy: its chain verifies, and its last run is on the target too,
    entry for entry (the same hashes): the pipeline's record and the server's agree."""
    if data is None:
        return LedgerEvidence(False, "no ledger artifact")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.endswith(f"ledger/{env_name}.jsonl") or n == f"{env_name}.jsonl"]
            if not names:
                return LedgerEvidence(False, f"the ledger artifact holds no {env_name}.jsonl")
            text = zf.read(names[0]).decode("utf-8")
    except zipfile.BadZipFile:
        return LedgerEvidence(False, "the ledger artifact is not a zip file")
    entries, problems = ledger.parse_lines(text)
    report = ledger.verify_chain(entries)
    if problems or not report.ok:
        return LedgerEvidence(False, f"the ledger artifact does not verify: {(problems + report.problems)[0]}")
    starts = [e for e in entries if e.get("event") == "run.started"]
    if not starts:
        return LedgerEvidence(False, "the ledger artifact records no run", entries=len(entries))
    run = str(starts[-1].get("run"))
    mine = [e for e in entries if e.get("run") == run]
    on_target = {e.get("hash") for e in target_entries if e.get("run") == run}
    finished = [e for e in mine if e.get("event") == "run.finished"]
    bundle = (starts[-1].get("data") or {}).get("bundle") or {}
    evidence = LedgerEvidence(
        True,
        f"{len(entries)} entries, chain intact; run {run} has {len(mine)} entries",
        run,
        str((finished[-1].get("data") or {}).get("outcome")) if finished else "unfinished",
        bundle.get("sha256"),
        len(entries),
    )
    missing = [e for e in mine if e.get("hash") not in on_target]
    if missing:
        evidence.ok = False
        evidence.detail += f"; {len(missing)} of them are not in the target's ledger (the copies disagree)"
    else:
        evidence.detail += ", the same on the target"
    return evidence


def write_evidence(folder: Path, evidence: dict[str, Any], redactor: Redactor) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    clean = redactor.data(evidence)
    (folder / "evidence.json").write_text(json.dumps(clean, indent=2), encoding="utf-8")
    (folder / "evidence.md").write_text(to_markdown(clean), encoding="utf-8")
    return folder


def to_markdown(ev: dict[str, Any]) -> str:
    verdict = ev["verdict"]
    lines = [
        f"# E2E {ev['environment']} — {verdict['verdict']}",
        "",
        f"**{verdict['verdict']}**: {verdict['summary']}",
        "",
        f"- Plan: `{ev['plan']}` (approved by {ev.get('approved_by', '—')})",
        f"- Commit: `{ev['sha']}`",
        f"- Build run: {ev.get('build', {}).get('html_url', '—')}",
        f"- Deploy run: {ev.get('deploy', {}).get('html_url', '—')}",
        f"- current before: `{ev['symlink']['before']}` → after: `{ev['symlink']['after']}`",
        f"- Bundle SHA-256: `{ev.get('bundle_sha256') or '—'}`",
        f"- Ledger: {ev.get('ledger', {}).get('detail', '—')}",
        f"- Time: e2e {ev['timing']['e2e_seconds']:.1f} s; pipeline's own {ev['timing']['pipeline_seconds']:.1f} s; "
        f"{ev['api_calls']} API calls",
        "",
        "| acceptance criterion | ok | detail |",
        "|---|---|---|",
    ]
    for c in verdict["criteria"]:
        lines.append(f"| {c['name']} | {'yes' if c['ok'] else '**no**'} | {str(c['detail']).replace('|', '/')} |")
    lines += ["", "| gate line | state | snippet |", "|---|---|---|"]
    for g in ev.get("gates", []):
        lines.append(f"| {g['name']} | {g['state']} | `{str(g['snippet']).replace('|', '/')[:120]}` |")
    return "\n".join(lines) + "\n"
