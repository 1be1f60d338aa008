"""A run's hold on a target: the connection, the lock (with its heartbeat), the ledger recorder.

`run_plan` is the only way a plan reaches a target: it opens a session on each host (one for a
single target), runs the checks that must hold under the lock (a stale plan, a plan that already
ran), and hands the steps to the orchestrator, which runs them phase by phase through each host's
executor. However the run ends, every lock is released and every connection closed; a failure
to release a lock never hides the error that ended the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freigabe.adapters.bundle import BundleScan
from freigabe.adapters.inventory import environment_hosts
from freigabe.adapters.ledger_keys import local_signer, reading_trust, trusted_ids
from freigabe.adapters.target import Target, open_target
from freigabe.adapters.transport.base import Claim
from freigabe.config import LoadedConfig
from freigabe.core.events import Event
from freigabe.core.fleet import Host, primary, witness_name
from freigabe.core.layout import Layout
from freigabe.core.plan import Plan
from freigabe.core.redact import REDACTOR, Redactor
from freigabe.engine import lock
from freigabe.engine.outcome import Reporter, RunResult
from freigabe.engine.recorder import Looked, Recorder, decisions, read_entries, read_recent
from freigabe.engine.witness import Witness
from freigabe.errors import FreigabeError


@dataclass
class Session:
    target: Target
    recorder: Recorder
    held: lock.Held | None

    def current(self) -> str | None:
        """The live release: as seen when the lock was taken (only a run holding it changes `current`)."""
        if self.held is None:
            return self.target.current()
        return self.target.layout.release_of(self.held.begun.current)

    @property
    def claimed(self) -> bool | None:
        """The session's claim (see Claim): made, found made already (False), or not tried (None)."""
        return self.held.begun.claimed if self.held is not None else None


def target_entries(loaded: LoadedConfig, target: Target) -> list[dict[str, Any]]:
    """Every ledger entry of the target, verified, read-only: the local witness brought up to it."""
    trusted = reading_trust(loaded.root, loaded.config.ledger.trusted_keys)
    return read_entries(target.transport, target.layout, loaded.root, witness_name(target.name, target.host), trusted)


def recent_entries(loaded: LoadedConfig, target: Target, current: str | None, runs: int = 8) -> list[dict[str, Any]]:
    """The newest entries (the last `runs` runs and what made `current` live), verified, read-only:
    what `status` and the audit read, at any ledger length."""
    trusted = reading_trust(loaded.root, loaded.config.ledger.trusted_keys)
    return read_recent(
        target.transport, target.layout, loaded.root, witness_name(target.name, target.host), trusted, current, runs
    )


def decision_entries(loaded: LoadedConfig, env_name: str) -> list[dict[str, Any]]:
    """Every attestation and waiver of the environment (call after a read brought the copy up)."""
    return decisions(loaded.root, env_name)


def recorder_for(
    loaded: LoadedConfig, target: Target, run: str, redactor: Redactor, looked: Looked | None = None
) -> Recorder:
    signer = local_signer(loaded.root)
    trusted = trusted_ids(loaded.config.ledger.trusted_keys, signer)
    return Recorder(
        target.transport,
        target.layout,
        loaded.root,
        target.name,
        run,
        redactor,
        signer,
        trusted,
        witness=witness_name(target.name, target.host),
        looked=looked,
    )


def _ledger_from(loaded: LoadedConfig, target: Target) -> int:
    """Where the local copy of the target's ledger has seen it up to: the tail to read from."""
    head = Witness(loaded.root, witness_name(target.name, target.host)).head()
    return head.offset if head is not None else 0


@contextmanager
def session(
    loaded: LoadedConfig,
    env_name: str,
    run: str,
    release: str | None,
    redactor: Redactor,
    *,
    take_lock: bool = True,
    host: Host | None = None,
    target: Target | None = None,
    claim: ClaimFor | None = None,
) -> Iterator[Session]:
    """`target`: a connection the caller already opened (and closes), else one is opened here
    (`host`: which host of a fleet); `claim`: what to claim as the lock is taken (see Claim)."""
    with nullcontext(target) if target is not None else open_target(loaded, env_name, host) as target:
        target.transport.mkdir(target.layout.state)
        # One look as the lock is taken: holding it, whatever is still recorded as running belongs
        # to a run that is gone and is ended; `current` and the ledger's new tail are read.
        offset = _ledger_from(loaded, target)
        held = (
            lock.acquire(
                target.transport,
                target.layout,
                env_name,
                run,
                release,
                target.env.lock_stale_after,
                offset,
                claim(target.layout) if claim is not None else None,
            )
            if take_lock
            else None
        )
        try:
            recorder = recorder_for(loaded, target, run, redactor, (offset, held.begun.ledger) if held else None)
            if held is not None:
                if held.begun.ended:
                    recorder.record_now("orphans.ended", process_groups=held.begun.ended)
                target.transport.track_processes(lock.running_folder(target.layout))
            yield Session(target, recorder, held)
        finally:
            target.transport.track_processes(None)
            if held is not None:
                _release(target, held, env_name)


def _release(target: Target, held: lock.Held, env_name: str) -> None:
    try:
        lock.release(target.transport, target.layout, held)
    except FreigabeError as exc:
        hosts = f" --hosts {target.host}" if target.host else ""
        note = (
            f"; the lock{f' of {target.host}' if target.host else ''} could not be released ({exc.message}): "
            f"`freigabe unlock {env_name}{hosts}` once the target answers"
        )
        failing = sys.exc_info()[1]
        if isinstance(failing, FreigabeError):
            failing.message += note  # the error that ended the run stays the one shown
            failing.args = (failing.message,)
            return
        raise FreigabeError(f"the run finished, but{note[1:]}") from None


def record(loaded: LoadedConfig, env_name: str, run: str, event: Event, **data: Any) -> dict[str, Any]:
    """One ledger entry written under the lock (an attestation, a waiver): never beside a running deploy.
    In a fleet it goes to the primary host (the `migrate` host, else the first)."""
    hosts = environment_hosts(loaded, env_name)
    with session(loaded, env_name, run, None, REDACTOR, host=primary(hosts)) as s:
        return s.recorder.record_now(event, **data)


def new_run_id() -> str:
    import secrets
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


Finished = Callable[[RunResult, dict[str, list[dict[str, Any]]]], None]
UnderLock = Callable[[Session, Plan], None]
ClaimFor = Callable[[Layout], Claim]
PlanClaim = Callable[[Layout, Plan], Claim]  # a host's claim, from its layout and its part of the plan


def run_plan(
    loaded: LoadedConfig,
    plan: Plan,
    *,
    redactor: Redactor,
    run: str | None = None,
    reporter: Reporter | None = None,
    bundle_path: Path | None = None,
    scan: BundleScan | None = None,
    sleep: Callable[[float], None] | None = None,
    under_lock: UnderLock | None = None,
    take_lock: bool = True,
    finished: Finished | None = None,
    targets: dict[str, Target] | None = None,
    claim: PlanClaim | None = None,
) -> RunResult:
    """Run `plan` on its environment's host or hosts; raise the FreigabeError that ended a failed run.

    `under_lock` runs first on each host, holding its lock, with that host's part of the plan (the
    checks that must not race another run); `finished` gets the result and this run's ledger
    entries per host ("" for the only host) however the run ended (evidence); `targets`: connections
    the caller opened for its checks (by host name), used for the run and closed by the caller;
    `claim`: what each host's session claims as it takes the lock (`under_lock` sees if it did)."""
    from freigabe.engine.orchestrator import Orchestrator

    return Orchestrator(
        loaded,
        plan,
        redactor=redactor,
        run=run or new_run_id(),
        reporter=reporter,
        bundle_path=bundle_path,
        scan=scan,
        sleep=sleep or time.sleep,
        under_lock=under_lock,
        take_lock=take_lock,
        finished=finished,
        targets=targets,
        claim=claim,
    ).run()
