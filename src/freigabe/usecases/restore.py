"""`freigabe restore ENV --backup ID`: put a backup's database dump (and optionally shared
files) back, behind `PROD-FIX FREIGEGEBEN`, bound to a restore plan id.

The backup's SHA256SUMS are checked on the target before anything is restored.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from typing import Any

from freigabe.config import LoadedConfig
from freigabe.config.models import FIX_PHRASE
from freigabe.core.plan import canonical_json, sha256_text
from freigabe.core.redact import Redactor
from freigabe.errors import StalePlan, StepFailed, UsageError
from freigabe.usecases import lock as locks
from freigabe.usecases.apply import new_run_id
from freigabe.usecases.planning import id_matches, require_fix_phrase
from freigabe.usecases.records import Recorder, actor
from freigabe.usecases.targets import Target, open_target


@dataclass(frozen=True)
class RestorePlan:
    environment: str
    backup: str
    folder: str
    sums: dict[str, str]
    db_restore: list[str] | None
    files: bool

    @property
    def id(self) -> str:
        return sha256_text(canonical_json({"kind": "restore", **self.__dict__}))

    def describe(self) -> list[str]:
        steps = [f"verify {self.folder}/SHA256SUMS on the target"]
        if self.db_restore:
            steps.append(f"{' '.join(self.db_restore)} < {self.folder}/db.sql")
        if self.files:
            steps.append(f"restore shared/ from {self.folder}/app.tar.gz")
        return steps


def _backups_dir(target: Target) -> str:
    return target.env.backup.dir or target.layout.default_backups()


def plan_restore(loaded: LoadedConfig, env_name: str, backup: str, files: bool = False) -> RestorePlan:
    target = open_target(loaded, env_name)
    try:
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
    finally:
        target.close()
    restore_cmd = target.env.backup.db_restore
    if "db.sql" in sums and restore_cmd is None:
        raise UsageError(
            f'set [environments.{env_name}.backup] db_restore (e.g. ["mysql", "app"]) to restore the database dump'
        )
    if files and "app.tar.gz" not in sums:
        raise UsageError(f"backup {backup} has no app.tar.gz to restore files from")
    return RestorePlan(env_name, backup, folder, sums, restore_cmd if "db.sql" in sums else None, files)


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
    target = open_target(loaded, env_name)
    run = new_run_id()
    try:
        held = locks.acquire(target.transport, target.layout, env_name, run, None, target.env.lock_stale_after)
        try:
            recorder = Recorder(target.transport, target.layout, loaded.root, env_name, run, Redactor())
            recorder.record("restore.approved", plan=plan.id, backup=backup, phrase=FIX_PHRASE, by=actor())
            check = target.transport.run(
                ["sh", "-c", 'cd "$1" && sha256sum --quiet -c SHA256SUMS', "sh", plan.folder], timeout=600
            )
            if not check.ok:
                recorder.record("restore.refused", reason=check.tail(3))
                raise StepFailed(
                    f"backup {backup} does not match its SHA256SUMS ({check.tail(1)}); nothing was restored"
                )
            done = []
            if plan.db_restore:
                command = f"{shlex.join(plan.db_restore)} < {shlex.quote(plan.folder + '/db.sql')}"
                result = target.transport.run(["sh", "-c", command], timeout=3600)
                if not result.ok:
                    recorder.record("restore.failed", step="database", detail=result.tail(3))
                    raise StepFailed(f"restoring the database failed (exit {result.returncode}: {result.tail(1)})")
                done.append("database")
            if plan.files:
                result = target.transport.run(
                    ["tar", "-xzf", f"{plan.folder}/app.tar.gz", "-C", target.env.deploy_path, "./shared"], timeout=3600
                )
                if not result.ok:
                    raise StepFailed(f"restoring shared/ failed (tar exit {result.returncode}: {result.tail(1)})")
                done.append("shared files")
            recorder.record("restore.done", backup=backup, restored=done)
            return {"backup": backup, "restored": done, "run": run}
        finally:
            locks.release(target.transport, target.layout, held)
    finally:
        target.close()
