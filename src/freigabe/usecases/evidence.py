"""Evidence of one run, built from the ledger (the record), never from memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freigabe.config import LoadedConfig
from freigabe.core import ledger
from freigabe.core.redact import REDACTOR
from freigabe.errors import UsageError

HEALTH_STEPS = ("health.", "rollback.health.", "readiness", "rollback.readiness", "assets.check")


def _state(loaded: LoadedConfig) -> Path:
    return loaded.state_dir


ROLLBACK_CHECKS = ("rollback.readiness", "rollback.health.")


def _rollback(by_event: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """What the rollback did, judged from the measured checks of the restored release.

    `verified` only when the restored release's readiness and every health check ran and
    passed; an event's name alone never makes a rollback verified."""
    records = [
        e for name in ("rollback.verified", "rollback.failed", "rollback.impossible") for e in by_event.get(name, [])
    ]
    started = by_event.get("rollback.started")
    if not started and not records:
        return None
    checks = [
        {k: d.get(k) for k in ("step", "outcome", "summary", "details")}
        for d in by_event.get("step.finished", [])
        if str(d.get("step", "")).startswith(ROLLBACK_CHECKS)
    ]
    if "rollback.impossible" in by_event:
        status = "impossible"
    elif checks and all(c["outcome"] == "ok" for c in checks) and "rollback.failed" not in by_event:
        status = "verified"
    else:
        status = "failed"
    restore = (started or [{}])[-1].get("restore")
    return {"status": status, "restored": restore, "checks": checks, **(records[-1] if records else {})}


def summarize(run: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [e for e in entries if e.get("run") == run]
    if not mine:
        raise UsageError(f"run {run} is not in the ledger; `freigabe status ENV` lists recent runs")
    by_event: dict[str, list[dict[str, Any]]] = {}
    for entry in mine:
        by_event.setdefault(entry["event"], []).append(entry["data"])
    started = (by_event.get("run.started") or [{}])[0]
    finished = (by_event.get("run.finished") or [{}])[-1]
    steps = [
        {k: d.get(k) for k in ("step", "outcome", "seconds", "summary")} for d in by_event.get("step.finished", [])
    ]
    health = [
        {"step": d["step"], **d.get("details", {})}
        for d in by_event.get("step.finished", [])
        if str(d.get("step", "")).startswith(HEALTH_STEPS)
    ]
    rollback = _rollback(by_event)
    approvals = by_event.get("plan.approved", [])
    return {
        "run": run,
        "environment": mine[0].get("env"),
        "started": mine[0].get("ts"),
        "finished": mine[-1].get("ts"),
        "plan": started.get("plan") or (approvals[0].get("plan") if approvals else None),
        "approval": approvals[0] if approvals else None,
        "kind": started.get("kind"),
        "release": started.get("release"),
        "bundle": started.get("bundle"),
        "symlink": {
            "before": started.get("current_before"),
            "after": finished.get("current_after"),
            "switches": by_event.get("switch", []),
        },
        "outcome": finished.get("outcome", "unfinished (no run.finished entry: the run crashed)"),
        "reason": finished.get("reason"),
        "steps": steps,
        "health": health,
        "rollback": rollback,
        # what the migrations did and the backup that can undo them (engine/actions/migrations_run.py)
        "migrations": [
            {"event": e["event"], **e["data"]}
            for e in mine
            if e["event"] in ("migrations.applied", "migrations.failed")
        ],
        "ledger_entries": [{"seq": e["seq"], "event": e["event"], "hash": e["hash"]} for e in mine],
    }


def migrations_line(env: str, m: dict[str, Any]) -> str:
    backup = m.get("backup")
    undo = (
        f"backup `{backup['dir']}` (db.sql SHA-256 `{backup['db_sha256']}`) can undo them: "
        f"`freigabe restore {env} --backup {backup['stamp']}` (PROD-FIX FREIGEGEBEN)"
        if backup
        else "no database backup of this run can undo them"
    )
    breaking = "; ".join(f"{b['migration']} #{b['statement']} `{b['sql']}`" for b in m.get("breaking") or [])
    if m["event"] == "migrations.applied":
        text = f"Migrations applied: {', '.join(m.get('migrations') or []) or 'none'}"
    else:
        text = (
            f"Migration **failed**: {m.get('migration') or 'unknown'}"
            + (f" at `{m['sql']}`" if m.get("sql") else "")
            + f"; applied before it: {', '.join(m.get('applied') or []) or 'none'}; pending after: "
            + ", ".join(m.get("pending_after") or [])
        )
    return text + (f"; breaking: {breaking}" if breaking else "") + f" — {undo}"


def to_markdown(ev: dict[str, Any]) -> str:
    lines = [
        f"# Evidence — run {ev['run']} ({ev['environment']})",
        "",
        f"- Outcome: **{ev['outcome']}**" + (f" — {ev['reason']}" if ev.get("reason") else ""),
        f"- Plan: `{ev['plan']}`",
        f"- Approved by: {ev['approval']['by'] if ev.get('approval') else '—'}"
        + (f" with “{ev['approval']['phrase']}”" if ev.get("approval") else ""),
        f"- Release: `{ev['release']}`",
        f"- Bundle: `{(ev.get('bundle') or {}).get('name', '—')}` "
        f"SHA-256 `{(ev.get('bundle') or {}).get('sha256', '—')}`",
        f"- current before: `{ev['symlink']['before']}` → after: `{ev['symlink']['after']}`",
        f"- Time: {ev['started']} … {ev['finished']}",
        "",
        "| step | outcome | seconds | result |",
        "|---|---|---|---|",
    ]
    for step in ev["steps"]:
        summary = str(step.get("summary") or "").replace("|", "\\|")
        lines.append(f"| {step['step']} | {step['outcome']} | {step['seconds']} | {summary} |")
    for m in ev.get("migrations", []):
        lines += ["", migrations_line(ev["environment"], m)]
    if ev.get("rollback"):
        rb = ev["rollback"]
        lines += ["", f"Rollback: **{rb['status']}** (restored: {rb.get('restored', '—')})"]
    lines += [
        "",
        f"Ledger entries: {len(ev['ledger_entries'])}, last hash `{ev['ledger_entries'][-1]['hash']}`",
        "",
    ]
    return "\n".join(lines)


def fleet_summary(run: str, by_host: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A fleet's run: every host's evidence, tied by the run id, with what the fleet did as a whole."""
    hosts = {name: summarize(run, entries) for name, entries in sorted(by_host.items())}
    mine = [e for entries in by_host.values() for e in entries if e.get("run") == run]
    skew = {}
    for entry in mine:
        if entry["event"] == "fleet.switched":
            skew[entry["data"]["batch"]] = entry["data"]
    skipped: dict[str, str] = {}
    fleet: dict[str, Any] = {}
    for entry in mine:
        if entry["event"] == "run.started" and entry["data"].get("fleet"):
            fleet = fleet or entry["data"]["fleet"]
            skipped.update(entry["data"]["fleet"].get("skipped") or {})
        elif entry["event"] == "fleet.skipped":
            skipped[entry["data"]["host"]] = entry["data"].get("reason", "")
    outcomes = {name: ev["outcome"] for name, ev in hosts.items()}
    first = next(iter(hosts.values()))
    return {
        "run": run,
        "environment": first["environment"],
        "plan": first["plan"],
        "release": first["release"],
        "bundle": first["bundle"],
        "fleet": {
            "hosts": fleet.get("hosts", sorted(hosts)),
            "strategy": fleet.get("strategy"),
            "batches": fleet.get("batches"),
            "on_unreachable": fleet.get("on_unreachable"),
            "skipped": skipped,
            "switch_batches": [skew[k] for k in sorted(skew)],
            "skew_ms": max((b["skew_ms"] for b in skew.values()), default=None),
        },
        "outcome": "deployed"
        if set(outcomes.values()) == {"deployed"}
        else ", ".join(f"{n}: {o}" for n, o in outcomes.items()),
        "outcomes": outcomes,
        "hosts": hosts,
    }


def fleet_markdown(ev: dict[str, Any]) -> str:
    fleet = ev["fleet"]
    lines = [
        f"# Evidence — run {ev['run']} ({ev['environment']}, fleet of {len(fleet['hosts'])} hosts)",
        "",
        f"- Outcome: **{ev['outcome']}**",
        f"- Plan: `{ev['plan']}`; strategy {fleet['strategy']}, batches {fleet['batches']}, "
        f"unreachable hosts: {fleet['on_unreachable']}",
        f"- Release: `{ev['release']}`; bundle SHA-256 `{(ev.get('bundle') or {}).get('sha256', '—')}`",
        f"- Switch skew (first to last rename): {fleet['skew_ms']} ms"
        + "".join(f"; batch {b['batch']}: {b['skew_ms']} ms over {len(b['hosts'])}" for b in fleet["switch_batches"]),
    ]
    lines += [f"- Left out: {name} ({why})" for name, why in fleet["skipped"].items()]
    lines += ["", "| host | outcome | current before | current after | rollback |", "|---|---|---|---|---|"]
    for name, host in ev["hosts"].items():
        rollback = (host.get("rollback") or {}).get("status", "—")
        lines.append(
            f"| {name} | {host['outcome']} | {host['symlink']['before']} | {host['symlink']['after']} | {rollback} |"
        )
    for name, host in ev["hosts"].items():
        lines += ["", to_markdown(host).replace("# Evidence", f"## {name}: evidence", 1)]
    return "\n".join(lines) + "\n"


def write_run_evidence(
    loaded: LoadedConfig, env: str, run: str, entries: dict[str, list[dict[str, Any]]], out: Path | None = None
) -> Path:
    """`entries`: the ledger entries per host ("" for an environment's only host)."""
    if list(entries) == [""]:
        ev = REDACTOR.data(summarize(run, entries[""]))
        markdown = to_markdown(ev)
    else:
        ev = REDACTOR.data(
            fleet_summary(run, {h: e for h, e in entries.items() if any(x.get("run") == run for x in e)})
        )
        markdown = fleet_markdown(ev)
    folder = out or (_state(loaded) / "runs" / run)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evidence.json").write_text(json.dumps(ev, indent=2), encoding="utf-8")
    (folder / "evidence.md").write_text(REDACTOR.text(markdown), encoding="utf-8")
    return folder


def find_run(loaded: LoadedConfig, run: str) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """The environment of a run and its hosts' ledger entries (the local copies): "" is an
    environment's only host; a fleet's hosts are `.freigabe/ledger/<env>/<host>.jsonl`."""
    folder = _state(loaded) / "ledger"
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for path in sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []:
        entries, _ = ledger.parse_lines(path.read_text(encoding="utf-8"))
        if any(e.get("run") == run for e in entries):
            relative = path.relative_to(folder).with_suffix("")
            env, host = (relative.parts[0], relative.name) if len(relative.parts) > 1 else (relative.name, "")
            found.setdefault(env, {})[host] = entries
    if not found:
        raise UsageError(
            f"run {run} is in no local ledger copy under {folder}; check the run id "
            "(`freigabe status ENV` lists recent runs)"
        )
    env = next(iter(found))
    return env, found[env]
