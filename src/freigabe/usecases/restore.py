"""`freigabe restore ENV --backup ID`: put a backup's database dump (and optionally shared
files) back, behind `PROD-FIX FREIGEGEBEN`, bound to a restore plan id.

A restore is a plan like any other, run by the executor: the backup's SHA256SUMS are checked
on the target first (a damaged backup restores nothing), then the dump, then the files.
"""

from __future__ import annotations

import posixpath
from typing import Any

from freigabe.adapters.identity import actor
from freigabe.adapters.target import Target, open_target
from freigabe.config import LoadedConfig
from freigabe.config.models import FIX_PHRASE
from freigabe.core.plan import Plan, PlanInputs, Step
from freigabe.core.redact import REDACTOR
from freigabe.core.steps import BackupVerify, DbRestore, FilesRestore
from freigabe.engine.session import Session, run_plan
from freigabe.errors import StalePlan, UsageError
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.planning import id_matches, require_fix_phrase


def _backups_dir(target: Target) -> str:
    return target.env.backup.dir or target.layout.default_backups()


def describe(plan: Plan) -> list[str]:
    return [step.title for step in plan.steps]


def plan_restore(loaded: LoadedConfig, env_name: str, backup: str, files: bool = False) -> Plan:
    with open_target(loaded, env_name) as target:
        base = _backups_dir(target)
        available = [n for n in target.transport.listdir(base) if n[:8].isdigit()]
        if backup not in available:
            raise UsageError(f"backup {backup!r} is not in {base} (there: {', '.join(available[-5:]) or 'none'})")
        folder = posixpath.join(base, backup)
        sums_path = f"{folder}/SHA256SUMS"
        if not target.transport.exists(sums_path):
            raise UsageError(f"{folder} has no SHA256SUMS; it cannot be verified, so it is not restored")
        sums = {
            line.split("  ", 1)[1]: line.split("  ", 1)[0]
            for line in target.transport.read(sums_path).decode().splitlines()
            if "  " in line
        }
        current = target.current()
        env = target.env
    restore_cmd = env.backup.db_restore
    if "db.sql" in sums and restore_cmd is None:
        raise UsageError(
            f'set [environments.{env_name}.backup] db_restore (e.g. ["mysql", "app"]) to restore the database dump'
        )
    if files and "app.tar.gz" not in sums:
        raise UsageError(f"backup {backup} has no app.tar.gz to restore files from")
    steps = [
        Step(
            id="backup.verify",
            title=f"Verify {folder}/SHA256SUMS on the target ({', '.join(f'{n} {d[:12]}…' for n, d in sums.items())})",
            action="backup.verify",
            args=BackupVerify(folder=folder).data(),
            why="A damaged backup restores nothing.",
            source="PROD-FIX",
        )
    ]
    if "db.sql" in sums and restore_cmd is not None:
        steps.append(
            Step(
                id="db.restore",
                title=f"{' '.join(restore_cmd)} < {folder}/db.sql",
                action="db.restore",
                args=DbRestore(argv=restore_cmd, dump=f"{folder}/db.sql").data(),
                source="PROD-FIX",
            )
        )
    if files:
        steps.append(
            Step(
                id="files.restore",
                title=f"restore shared/ from {folder}/app.tar.gz",
                action="files.restore",
                args=FilesRestore(archive=f"{folder}/app.tar.gz", dest=env.deploy_path).data(),
                source="PROD-FIX",
            )
        )
    return Plan(
        kind="restore",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=current or "",
        previous_release=current,
        bundle=None,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=None, current_release=current),
        approval_phrase=FIX_PHRASE,
        steps=steps,
        rollback_steps=[],
    )


def apply_restore(
    loaded: LoadedConfig, env_name: str, backup: str, plan_id: str, phrase: str, files: bool = False
) -> dict[str, Any]:
    require_fix_phrase(phrase, "restore")
    plan = plan_restore(loaded, env_name, backup, files)
    if not id_matches(plan_id, plan.id):
        raise StalePlan(
            f"restore plan {plan_id[:12]} is not the current plan for backup {backup} "
            f"(now {plan.id[:12]}); run `freigabe restore {env_name} --backup {backup}` again"
        )

    def approved(s: Session, _: Plan) -> None:
        s.recorder.record("plan.approved", plan=plan.id, kind="restore", phrase=FIX_PHRASE, by=actor(), backup=backup)

    with InterruptGuard():
        result = run_plan(loaded, plan, redactor=REDACTOR, under_lock=approved)
    done = [
        {"db.restore": "database", "files.restore": "shared files"}[s.id]
        for s, o in result.steps
        if o.ok and s.id != "backup.verify"
    ]
    return {"backup": backup, "restored": done, "run": result.run}
