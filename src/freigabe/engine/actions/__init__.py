"""Every step kind and its handler: an explicit registry, one module per kind.

A handler takes the run's context, the step, and the step's arguments validated with the
step kind's model (`freigabe.core.steps`), and returns an Outcome or raises a FreigabeError.
`error` is what a failure of that kind raises when the handler returned one without saying.
`changes` is False for kinds that only look (HTTP checks, reads): their ledger entries travel
after them and the executor does not wait for the target after them (one round trip saved).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from freigabe.core import steps
from freigabe.core.plan import Step
from freigabe.engine.actions import (
    assets_check,
    backup_create,
    backup_verify,
    bundle_upload,
    bundle_verify,
    check_link,
    cleanup,
    command,
    db_restore,
    files_restore,
    gate_files,
    github_protect,
    health_check,
    lock_clear,
    migrations_pending,
    release_extract,
    release_mark,
    release_remove,
    scratch_remove,
    shared_link,
    switch,
    target_check,
    url_check,
    wait_ready,
)
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError, FreigabeError, GateFailed, LockHeld, StepFailed, TargetError


@dataclass(frozen=True)
class Action:
    args: type[steps.Args]
    run: Callable[[RunContext, Step, Any], Outcome]
    error: type[FreigabeError] = StepFailed
    changes: bool = True  # changes the target (the executor settles after it)


REGISTRY: dict[str, Action] = {
    "target.check": Action(steps.TargetCheck, target_check.run, TargetError),
    "url.check": Action(steps.UrlCheck, url_check.run, TargetError, changes=False),
    "backup.create": Action(steps.BackupCreate, backup_create.run),
    "bundle.upload": Action(steps.BundleUpload, bundle_upload.run, BundleError),
    "bundle.verify": Action(steps.BundleVerify, bundle_verify.run, BundleError),
    "release.extract": Action(steps.ReleaseExtract, release_extract.run, BundleError),
    "shared.link": Action(steps.SharedLink, shared_link.run),
    "gate.files": Action(steps.GateFiles, gate_files.run, GateFailed, changes=False),
    "command": Action(steps.Command, command.run),
    "check.link": Action(steps.CheckLink, check_link.run, GateFailed, changes=False),
    "migrations.pending": Action(steps.MigrationsPending, migrations_pending.run, changes=False),
    "switch": Action(steps.Switch, switch.run),
    "wait.ready": Action(steps.WaitReady, wait_ready.run, changes=False),
    "health.check": Action(steps.HealthCheck, health_check.run, changes=False),
    "assets.check": Action(steps.AssetsCheck, assets_check.run, changes=False),
    "release.mark": Action(steps.ReleaseMark, release_mark.run),
    "cleanup": Action(steps.Cleanup, cleanup.run),
    "release.remove": Action(steps.ReleaseRemove, release_remove.run),
    "lock.clear": Action(steps.LockClear, lock_clear.run, LockHeld),
    "github.protect": Action(steps.GithubProtect, github_protect.run, changes=False),
    "scratch.remove": Action(steps.ScratchRemove, scratch_remove.run),
    "backup.verify": Action(steps.BackupVerify, backup_verify.run, changes=False),
    "db.restore": Action(steps.DbRestore, db_restore.run),
    "files.restore": Action(steps.FilesRestore, files_restore.run),
}
