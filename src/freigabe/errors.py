"""The exception hierarchy and the exit codes it maps to.

Every failure a user can cause or meet ends in one of these: one sentence naming the
thing and the fix, and a documented exit code (see README, "Exit codes").
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug in freigabe: please report it
    CONFIG = 2  # freigabe.toml missing or invalid, bad command-line input
    BUNDLE = 3  # bundle missing, digest mismatch, corrupt or unsafe archive
    GATE = 4  # build or pre-switch gate, migration or other step failed before the switch
    ROLLED_BACK = 5  # a check after the switch failed; the previous release is live again
    ROLLBACK_FAILED = 6  # the rollback could not be completed or verified: act now
    APPROVAL = 7  # approval missing, wrong, for another plan, stale plan, or NO-GO
    LOCKED = 8  # another deploy holds the target's lock
    TARGET = 9  # target unreachable, not writable, disk full
    LEDGER = 10  # the ledger's hash chain does not verify
    INTERRUPTED = 11  # stopped by SIGINT/SIGTERM/SIGHUP before the switch: nothing live was changed
    E2E_FAILED = 12  # `freigabe e2e`: the pipeline ran and the acceptance criteria are not met
    E2E_TIMEOUT = 13  # `freigabe e2e`: gave up waiting (build, queue, environment reviewer, deploy)


class FreigabeError(Exception):
    """Base class: `message` is the one sentence shown to the user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FreigabeError):
    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class UsageError(FreigabeError):
    exit_code = ExitCode.CONFIG


class BundleError(FreigabeError):
    exit_code = ExitCode.BUNDLE


class GateFailed(FreigabeError):
    exit_code = ExitCode.GATE


class StepFailed(FreigabeError):
    """A step before the switch failed: nothing live was changed."""

    exit_code = ExitCode.GATE


class RolledBack(FreigabeError):
    """A check after the switch failed and the previous release is live and verified."""

    exit_code = ExitCode.ROLLED_BACK


class RollbackFailed(FreigabeError):
    exit_code = ExitCode.ROLLBACK_FAILED


class ApprovalError(FreigabeError):
    exit_code = ExitCode.APPROVAL


class StalePlan(ApprovalError):
    pass


class LockHeld(FreigabeError):
    exit_code = ExitCode.LOCKED


class TargetError(FreigabeError):
    exit_code = ExitCode.TARGET


class NoRelease(TargetError):
    """A link switch refused: what it would point at is not a directory (`current` left as it was)."""


class RunInterrupted(FreigabeError):
    """A signal stopped the run before the switch; the unfinished release was removed."""

    exit_code = ExitCode.INTERRUPTED


class Unreachable(TargetError):
    """The host does not answer on its SSH port (or its jump host's): nothing could be done there.
    A fleet may leave such a host out (`on_unreachable = "skip"`); a refused key never is."""


class ConnectionLost(TargetError):
    """The connection to the target broke during the run (it may come back: see `reconnect`)."""


class AppendConflict(TargetError):
    """An append that expected the file at one size found it at another: someone else wrote to it."""

    def __init__(self, message: str, actual: int) -> None:
        super().__init__(message)
        self.actual = actual


class LedgerError(FreigabeError):
    exit_code = ExitCode.LEDGER


class E2EFailed(FreigabeError):
    """`freigabe e2e` judged the pipeline's result FAIL (failed, rolled back, or not switched)."""

    exit_code = ExitCode.E2E_FAILED


class E2ETimeout(FreigabeError):
    """`freigabe e2e` gave up waiting for a run (the message says for what, and what it did)."""

    exit_code = ExitCode.E2E_TIMEOUT
