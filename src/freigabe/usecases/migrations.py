"""Migrations in the plan: read in a pre-flight copy of the bundle on the target, judged, shown.

When the environment can say what is pending (`migrations_status`) and what SQL it would run
(`migrations_pretend`), making a deploy plan runs a small pre-flight: the bundle uploaded,
verified and extracted into `.freigabe/preflight/`, shared files linked, the status and pretend
commands run there against the target's database, the copy removed. It is a plan of its own,
run by the executor under the lock and recorded in the ledger; nothing live is touched. The
facts go into the deploy plan's migrate step (so the approval covers the SQL) and become findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freigabe.adapters.bundle import BundleScan
from freigabe.audit.migrations import MigrationContext, evaluate
from freigabe.config import LoadedConfig
from freigabe.config.models import Config
from freigabe.core import pipeline
from freigabe.core.environments import is_production
from freigabe.core.findings import Finding
from freigabe.core.layout import Layout
from freigabe.core.migration_history import describe, schema_ahead_of
from freigabe.core.migrations import MigrationFacts
from freigabe.core.plan import BundleRef, Plan
from freigabe.engine.session import run_plan
from freigabe.errors import FreigabeError, RollbackFailed, RolledBack, RunInterrupted
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.scratch import scratch_plan


def inspected(config: Config, env_name: str) -> bool:
    server = config.environment(env_name).server
    return bool(config.deploy.migrate and server.migrations_status and server.migrations_pretend)


def backup_dir(config: Config, env_name: str, run_stamp: str) -> str | None:
    """This run's backup folder, when it dumps the database (what can undo the migrations)."""
    env = config.environment(env_name)
    if not (env.backup.enabled and env.backup.db_dump):
        return None
    return f"{env.backup.dir or Layout(env.deploy_path).default_backups()}/{run_stamp}"


def inspect(
    loaded: LoadedConfig,
    config: Config,
    env_name: str,
    bundle: BundleRef,
    bundle_path: Path,
    scan: BundleScan,
    current: str | None,
) -> MigrationFacts:
    """The pending migrations of `bundle` against the target's database, read in a temporary copy."""
    from freigabe.usecases.apply import redactor_for

    server = config.environment(env_name).server
    name = f"migrations-{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}-{bundle.sha[:8]}"
    steps = pipeline.migration_inspection_steps(config, env_name, bundle, name)
    plan = scratch_plan(loaded, env_name, name, bundle, current, steps)
    try:
        with InterruptGuard():  # a signal stops the copy cleanly (removed, recorded), then the plan
            result = run_plan(loaded, plan, redactor=redactor_for(plan), bundle_path=bundle_path, scan=scan)
    except RunInterrupted:
        raise
    except FreigabeError as exc:  # a held lock, an unreachable target, a failing command: a finding says so
        return MigrationFacts(error=exc.message, dialect=server.migrations_dialect)
    for step, outcome in result.steps:
        if step.action == "migrations.pending" and outcome.ok:
            return MigrationFacts.model_validate(outcome.details["facts"])
    return MigrationFacts(error="the pre-flight copy did not report its migrations", dialect=server.migrations_dialect)


def context(config: Config, env_name: str, run_stamp: str, live: str | None) -> MigrationContext:
    env = config.environment(env_name)
    return MigrationContext(
        environment=env_name,
        production=is_production(env_name, env, config.policy),
        migrate=config.deploy.migrate,
        backup_dir=backup_dir(config, env_name, run_stamp),
        inspected=inspected(config, env_name),
        live_release=live,
    )


def findings(
    config: Config, env_name: str, facts: MigrationFacts | None, run_stamp: str, live: str | None
) -> list[Finding]:
    return evaluate(facts, context(config, env_name, run_stamp, live))


# ---------------------------------------------------------------- what `attest` and `waive` can name


def _facts_file(loaded: LoadedConfig, env_name: str) -> Path:
    return loaded.state_dir / "migrations" / f"{env_name}.json"


def remember(
    loaded: LoadedConfig, env_name: str, facts: MigrationFacts | None, run_stamp: str, live: str | None
) -> None:
    """The newest plan's migration facts, so `attest` and `waive` can name its findings."""
    path = _facts_file(loaded, env_name)
    if facts is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"facts": facts.model_dump(mode="json"), "run_stamp": run_stamp, "live": live}
    path.write_text(json.dumps(data), encoding="utf-8")


def latest_findings(loaded: LoadedConfig, env_name: str) -> list[Finding]:
    """The migration findings of the newest plan made for `env_name` (none without one)."""
    path = _facts_file(loaded, env_name)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        facts = MigrationFacts.model_validate(data["facts"])
    except (ValueError, KeyError):
        return []
    return findings(loaded.config, env_name, facts, str(data.get("run_stamp", "")), data.get("live"))


# ---------------------------------------------------------------- rollbacks


@contextmanager
def schema_noted(plan: Plan, entries: list[dict[str, Any]]) -> Iterator[None]:
    """A run that rolled back after its migrations ran: the error says the schema stayed ahead
    (`entries`: this run's ledger entries, filled in when the run ends)."""
    try:
        yield
    except (RolledBack, RollbackFailed) as exc:
        note = rollback_warning(entries, plan.previous_release or "", plan.environment)
        if note and plan.previous_release:
            exc.message += f"; {note}"
            exc.args = (exc.message,)
        raise


def rollback_warning(entries: list[dict[str, Any]], release: str, env_name: str) -> str | None:
    """For a rollback to `release`: the migrations that ran since it was deployed, and the way back."""
    ahead = schema_ahead_of(entries, release)
    return describe(ahead, env_name) if ahead else None
