"""One run of a plan on its hosts, in four phases: prepare all, migrate once, switch all, verify all.

A single target is a fleet of one and runs here too, in the main thread, step after step. A
fleet's hosts run in worker threads, each through its own session (connection, lock, ledger
recorder) and its own executor, with one run id that ties their ledgers together:

1. **prepare** every host in parallel (at most `concurrency` at once): reachability, lock,
   backup, upload, digest, extraction, shared links, gates. Nothing is switched until every
   host is prepared; a failure anywhere stops the run everywhere. A host unreachable before
   the switch is left out only under `on_unreachable = "skip"` (recorded on the others);
2. **migrate** once, on the `migrate` host, after its backup;
3. **switch** each batch (all hosts, the canary, a wave) at once: the threads meet at a
   barrier and rename `current` together; first to last rename is the skew, recorded;
4. **verify** each host through its own URL (reload, readiness, health, assets). If any host
   fails, every switched host goes back to the release it served before (the fleet's), and
   each proves again that it answers. Then each host marks the release good and cleans up.

A signal reaches the main thread, which here only waits: it relays it to the hosts' executors,
which act on it at their next step exactly as a single run does (stop before the switch, roll
back after it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from freigabe import failpoints, interrupts
from freigabe.adapters.bundle import BundleScan
from freigabe.adapters.target import Target
from freigabe.config import LoadedConfig
from freigabe.core.fleet import Host
from freigabe.core.plan import HostPlan, Plan, Step
from freigabe.core.redact import Redactor
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.executor import Executor, Failed, Stop
from freigabe.engine.outcome import Outcome, QuietReporter, Reporter, RunResult
from freigabe.engine.session import ClaimFor, Finished, PlanClaim, Session, UnderLock, session
from freigabe.errors import (
    ConnectionLost,
    FreigabeError,
    LockHeld,
    RollbackFailed,
    RolledBack,
    RunInterrupted,
    StepFailed,
    TargetError,
    Unreachable,
)


@dataclass
class HostRun:
    host: HostPlan
    view: Plan  # the fleet's plan as this host runs it
    stack: ExitStack = field(default_factory=ExitStack)
    session: Session | None = None
    executor: Executor | None = None
    state: str = "pending"  # skipped, switched, aborted, rolled_back, rollback_failed, deployed, …
    failed: Failed | None = None
    error: FreigabeError | None = None

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def switched(self) -> bool:
        return self.executor is not None and self.executor.ctx.switched

    @property
    def ex(self) -> Executor:
        assert self.executor is not None
        return self.executor


class HostReporter:
    """A fleet host's progress, one line per finished step with the host's name, never interleaved."""

    def __init__(self, inner: Reporter, host: str, lock: threading.Lock) -> None:
        self.inner, self.host, self.lock = inner, host, lock

    def _named(self, step: Step) -> Step:
        return step.model_copy(update={"id": f"{self.host} {step.id}"})

    def step_started(self, step: Step, index: int, total: int) -> None:
        return None  # no spinners from many threads

    def step_finished(self, step: Step, outcome: Outcome) -> None:
        with self.lock:
            self.inner.step_finished(self._named(step), outcome)

    def output(self, step: Step, line: str) -> None:
        with self.lock:
            self.inner.output(self._named(step), f"[{self.host}] {line}")

    def note(self, text: str) -> None:
        with self.lock:
            self.inner.note(f"{self.host}: {text}")


def _unreachable(error: BaseException | None) -> bool:
    """The host could not be reached (nothing answers), or its connection broke and stayed away."""
    return isinstance(error, Unreachable | ConnectionLost)


class Orchestrator:
    def __init__(
        self,
        loaded: LoadedConfig,
        plan: Plan,
        *,
        redactor: Redactor,
        run: str,
        reporter: Reporter | None,
        bundle_path: Path | None,
        scan: BundleScan | None,
        sleep: Callable[[float], None],
        under_lock: UnderLock | None,
        take_lock: bool,
        finished: Finished | None,
        targets: dict[str, Target] | None = None,
        claim: PlanClaim | None = None,
    ) -> None:
        self.loaded, self.plan, self.redactor, self.run_id = loaded, plan, redactor, run
        self.reporter = reporter or QuietReporter()
        self.bundle_path, self.scan, self.sleep = bundle_path, scan, sleep
        self.under_lock, self.take_lock, self.finished = under_lock, take_lock, finished
        self.claim = claim
        self.targets = targets or {}  # connections the caller opened for its checks (it closes them)
        self.multi = plan.is_fleet
        self.policy = plan.fleet
        self.stop = Stop()
        self.runs = [HostRun(h, plan.for_host(h)) for h in plan.host_plans()]
        for r in self.runs:
            if r.host.skip is not None:  # left out by the plan: unreachable when it was made
                r.state, r.error = "skipped", Unreachable(r.host.skip)
        self.skew: list[dict[str, Any]] = []
        self._print = threading.Lock()

    # ------------------------------------------------------------ the whole run

    def run(self) -> RunResult:
        guard = interrupts.critical() if self.multi else contextlib.nullcontext()
        try:
            with guard:
                try:
                    return self._phases()
                finally:
                    self._close()
                    if self.multi:
                        interrupts.take_pending()  # relayed to the hosts already; never raised afterwards
        finally:
            self._evidence()

    def _phases(self) -> RunResult:
        self._open()
        live = self._live()
        self._each(live, self._begin)
        for phase in ("pre_switch", "migrate", "finalize"):
            self._phase(self._live(), phase)
        batches = self.policy.batches if self.policy else [[r.name for r in self.runs]]
        for number, batch in enumerate(batches, start=1):
            wave = [r for r in self._live() if r.name in batch]
            if not wave:
                continue
            self._switch(wave, number)
            failpoints.hit("fleet.switched")
            self._phase(wave, "post_switch", switched=True)
        self._phase(self._live(), "finish", switched=True)
        results = {}
        for r in self._live():
            results[r.name] = r.ex.finish(**self._fleet_data(r, final=True))
            r.state = "deployed"
        return self._result(results)

    def _pending(self) -> list[HostRun]:
        return [r for r in self.runs if r.state != "skipped"]

    def _live(self) -> list[HostRun]:
        return [r for r in self.runs if r.executor is not None and r.state not in ("skipped", "aborted")]

    # ------------------------------------------------------------ sessions

    def _open(self) -> None:
        def one(r: HostRun) -> None:
            try:
                r.session = r.stack.enter_context(
                    session(
                        self.loaded,
                        self.plan.environment,
                        self.run_id,
                        self.plan.release,
                        self.redactor,
                        take_lock=self.take_lock,
                        host=self._config_host(r) if self.multi else None,
                        target=self.targets.get(r.name),
                        claim=self._claim_for(r),
                    )
                )
                if self.under_lock is not None:
                    self.under_lock(r.session, r.view)
            except FreigabeError as exc:
                r.error = exc
                r.stack.close()
                r.session = None
                return
            r.executor = Executor(self._context(r, r.session), self.stop if self.multi else None, self.plan.id)

        self._parallel(one, self._pending(), limit=self.policy.concurrency if self.policy else None)
        failed = [r for r in self.runs if r.error is not None and r.state != "skipped"]
        if not failed:
            return
        skippable = self._may_skip(failed)
        if skippable:
            for r in failed:
                r.state = "skipped"
            return
        if not self.multi:
            assert failed[0].error is not None
            raise failed[0].error
        first = failed[0]
        assert first.error is not None
        if _unreachable(first.error):
            raise TargetError(
                f"{self.plan.environment}: host {first.name} cannot be reached ({first.error.message}); the failure "
                f"policy is abort, so nothing was changed on any host — bring {first.name} back and run again, or "
                'plan with on_unreachable = "skip" to leave it out'
            )
        error = type(first.error)(f"{self.plan.environment}: on host {first.name}: {first.error.message}")
        if isinstance(first.error, LockHeld):
            error = LockHeld(f"{first.error.message} (host {first.name}); nothing was changed on any host")
        raise error from None

    def _claim_for(self, r: HostRun) -> ClaimFor | None:
        claim = self.claim
        if claim is None:
            return None
        return lambda layout: claim(layout, r.view)

    def _config_host(self, r: HostRun) -> Host:
        from freigabe.adapters.inventory import environment_hosts

        found = {h.name: h for h in environment_hosts(self.loaded, self.plan.environment)}
        if r.name not in found:
            raise TargetError(f"host {r.name} is in the plan but no longer in the environment's hosts; make a new plan")
        return found[r.name]

    def _may_skip(self, failed: list[HostRun]) -> bool:
        """Leave these hosts out: only unreachable ones, only under `skip`, never the migrate host
        (when there is something to migrate), and never all web hosts."""
        if self.policy is None or self.policy.on_unreachable != "skip":
            return False
        if not all(_unreachable(r.error) or (r.failed and _unreachable(r.failed.outcome.error)) for r in failed):
            return False
        if any(r.failed and r.failed.signal for r in failed):
            return False
        names = {r.name for r in failed}
        if any(s.phase == "migrate" for r in failed for s in r.host.steps):
            return False
        left = [r for r in self.runs if r.name not in names and r.state != "skipped"]
        return bool(left) and any("web" in r.host.roles for r in left)

    def _context(self, r: HostRun, s: Session) -> RunContext:
        folder = self.loaded.state_dir / "runs" / self.run_id
        reporter = HostReporter(self.reporter, r.name, self._print) if self.multi else self.reporter
        context = RunContext(
            plan=r.view,
            t=s.target.transport,
            layout=s.target.layout,
            recorder=s.recorder,
            redactor=self.redactor,
            reporter=reporter,
            log_dir=folder / r.name if r.name else folder,
            bundle_path=self.bundle_path,
            scan=self.scan,
            sleep=self.sleep,
            github=self.loaded.config.github,
        )
        if s.held is not None:  # the lock's look saw `current`
            context.knows_link(s.held.begun.current)
        return context

    def _close(self) -> None:
        def one(r: HostRun) -> None:
            try:
                r.stack.close()
            except FreigabeError as exc:  # a lock that could not be released: named with the result
                r.error = r.error or exc

        with interrupts.critical():  # every lock released, whatever signal comes meanwhile
            self._parallel(one, [r for r in self.runs if r.session is not None], relay=False)

    # ------------------------------------------------------------ phases

    def _fleet_data(self, r: HostRun, final: bool = False) -> dict[str, Any]:
        if not self.multi:
            return {}
        skipped = {x.name: (x.error.message if x.error else "unreachable") for x in self.runs if x.state == "skipped"}
        if final:
            return {"fleet": {"host": r.name, "skipped": skipped, "skew": self.skew}}
        assert self.policy is not None
        return {
            "fleet": {
                "host": r.name,
                "roles": r.host.roles,
                "hosts": [x.name for x in self.runs],
                "strategy": self.policy.strategy,
                "batches": self.policy.batches,
                "on_unreachable": self.policy.on_unreachable,
                "skipped": skipped,
            }
        }

    def _begin(self, r: HostRun) -> None:
        r.ex.begin(**self._fleet_data(r))
        for other in self.runs:
            if other.state == "skipped":  # each host's ledger says who was left out, and why
                why = other.error.message if other.error else "unreachable"
                r.ex.ctx.recorder.record("fleet.skipped", host=other.name, reason=why)

    def _phase(self, runs: list[HostRun], phase: str, switched: bool = False) -> None:
        def one(r: HostRun) -> None:
            r.failed = r.ex.run_phase([s for s in r.view.steps if s.phase == phase])

        prepare = phase == "pre_switch" and self.policy is not None
        self._parallel(one, runs, limit=self.policy.concurrency if prepare and self.policy else None)
        failed = [r for r in runs if r.failed is not None]
        if not failed:
            return
        if phase == "pre_switch" and self._may_skip(failed) and not any(x.switched for x in self.runs):
            self._skip(failed)
            return
        if phase == "finish" and all(r.failed and r.failed.signal for r in failed):
            for r in failed:  # a signal after every host was verified: finish the marks, skip the rest
                assert r.failed is not None
                r.ex.fail(r.failed)
            return
        self._end(failed)

    def _skip(self, failed: list[HostRun]) -> None:
        def one(r: HostRun) -> None:
            assert r.failed is not None
            with contextlib.suppress(FreigabeError):
                r.ex.fail(r.failed)  # the unfinished release is removed by the next run that reaches it
            r.state = "skipped"
            r.error = r.failed.outcome.error or TargetError(r.failed.outcome.summary)

        self._each(failed, one)
        for other in self._live():
            for r in failed:
                other.ex.ctx.recorder.record("fleet.skipped", host=r.name, reason=r.error.message if r.error else "")

    def _switch(self, wave: list[HostRun], number: int) -> None:
        barrier = threading.Barrier(len(wave)) if self.multi else None

        def one(r: HostRun) -> None:
            steps = [s for s in r.view.steps if s.phase == "switch"]
            if barrier is not None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=60)  # everyone renames at once: the skew is only their spread
            r.failed = r.ex.run_phase(steps)
            if r.switched:
                r.state = "switched"

        self._parallel(one, wave)
        times = {r.name: r.ex.ctx.switched_at for r in wave if r.ex.ctx.switched_at is not None}
        if self.multi and times:
            first = min(t for t in times.values() if t is not None)
            offsets = {name: round((t - first) * 1000, 1) for name, t in times.items() if t is not None}
            entry = {"batch": number, "hosts": sorted(offsets), "skew_ms": max(offsets.values()), "offsets_ms": offsets}
            self.skew.append(entry)
            for r in wave:
                if r.switched:
                    r.ex.ctx.recorder.record("fleet.switched", **entry)
            with self._print:
                self.reporter.note(
                    f"switched {plural(len(offsets), 'host')} within {entry['skew_ms']:.0f} ms (batch {number})"
                )
        failed = [r for r in wave if r.failed is not None]
        if failed:
            self._end(failed)

    # ------------------------------------------------------------ endings

    def _end(self, failed: list[HostRun]) -> NoReturn:
        """A host failed (or a signal came): every other host ends too — rolled back if it was
        switched, aborted if not — and the run's one error says where everything stands."""
        signal = next((r.failed.signal for r in failed if r.failed and r.failed.signal), None)
        origin = failed[0]
        assert origin.failed is not None
        self.stop.signum = None  # the signal was acted on; a second one stops the rollbacks
        peers = [r for r in self._live() if r.failed is None]

        def peer_failure(r: HostRun) -> Failed:
            assert origin.failed is not None
            step, outcome = origin.failed.step, origin.failed.outcome
            if signal is not None:
                return Failed(step, Outcome(False, outcome.summary, error=RunInterrupted(outcome.summary)), signal)
            summary = f"on {origin.name}: {outcome.summary}"
            error = outcome.error
            kind = type(error) if error and not isinstance(error, TargetError | RolledBack) else StepFailed
            policy = "rollback" if r.switched else step.on_failure
            return Failed(step.model_copy(update={"on_failure": policy}), Outcome(False, summary, error=kind(summary)))

        for r in peers:
            r.failed = peer_failure(r)

        def one(r: HostRun) -> None:
            assert r.failed is not None
            was_switched = r.switched
            try:
                r.ex.fail(r.failed)
            except RolledBack as exc:
                r.state, r.error = "rolled_back", exc
            except RollbackFailed as exc:
                r.state, r.error = "rollback_failed", exc
            except FreigabeError as exc:
                r.state, r.error = ("rollback_failed" if was_switched else "aborted"), exc

        self._parallel(one, failed + peers)
        self._raise(origin, signal is not None)

    def _raise(self, origin: HostRun, interrupted: bool) -> NoReturn:
        if not self.multi:
            assert origin.error is not None
            raise origin.error
        env, plan = self.plan.environment, self.plan
        assert origin.failed is not None
        where = f"{origin.name} {origin.failed.step.id} ({origin.failed.outcome.summary})"
        ran = [r for r in self.runs if r.executor is not None]
        broken = [r for r in ran if r.state == "rollback_failed"]
        back = [r for r in ran if r.state == "rolled_back"]
        skipped = [r.name for r in self.runs if r.state == "skipped"]
        also = f"; {', '.join(skipped)} left out (unreachable, still on their release)" if skipped else ""
        if broken:
            details = "; ".join(f"{r.name}: {r.error.message if r.error else 'unknown'}" for r in broken)
            verified = f" ({', '.join(r.name for r in back)} rolled back and verified)" if back else ""
            raise RollbackFailed(
                f"{env}: {where}; the rollback did not complete on {', '.join(r.name for r in broken)}{verified} — "
                f"act now: {details}; `freigabe status {env}` shows every host{also}"
            )
        if back:
            previous = sorted({r.host.current_release or "none" for r in back})
            untouched = [r.name for r in ran if r.state == "aborted"]
            never = f"; {', '.join(untouched)} were never switched" if untouched else ""
            raise RolledBack(
                f"{env}: {where} after the switch; every switched host ({', '.join(r.name for r in back)}) went back "
                f"to {', '.join(previous)} and answers healthy again (verified); {plan.release} is marked bad"
                f"{never}{also}"
            )
        if interrupted:
            raise RunInterrupted(
                f"{plan.kind} to {env} was {origin.failed.outcome.summary} on {origin.name}; it stopped before the "
                f"switch on every host and the unfinished releases were removed; nothing live was changed{also}"
            )
        kind = type(origin.error) if origin.error is not None else StepFailed
        if kind in (RolledBack, RollbackFailed):
            kind = StepFailed
        serving = ", ".join(f"{r.name} {r.host.current_release or 'nothing'}" for r in ran)
        raise kind(
            f"{plan.kind} to {env} stopped at {where}; nothing was switched on any host, each still serves what "
            f"it did ({serving}){also}"
        )

    def _result(self, results: dict[str, RunResult]) -> RunResult:
        if not self.multi:
            return results[self.runs[0].name]
        result = RunResult(
            self.run_id, self.plan.id, self.plan.environment, self.plan.release, self.plan.previous_release, "deployed"
        )
        result.hosts = results
        for name, host_result in results.items():
            result.steps += [(s.model_copy(update={"id": f"{name} {s.id}"}), o) for s, o in host_result.steps]
            result.warnings += [f"{name}: {w}" for w in host_result.warnings]
        skipped = {r.name: r.error.message if r.error else "" for r in self.runs if r.state == "skipped"}
        result.fleet = {"skew": self.skew, "skipped": skipped}
        for name, why in skipped.items():
            result.warnings.append(
                f"{name} was left out (unreachable: {why}); it still serves its release — catch it up with "
                f"`freigabe deploy {self.plan.environment} --hosts {name} --bundle BUNDLE`"
            )
        return result

    def _evidence(self) -> None:
        if self.finished is None:
            return
        entries = {r.name: r.session.recorder.entries for r in self.runs if r.session is not None}
        entries = {k: v for k, v in entries.items() if v}
        if not entries:
            return
        results = {r.name: r.ex.result for r in self.runs if r.executor is not None}
        first = next(iter(results.values()))
        self.finished(first, entries)

    # ------------------------------------------------------------ threads

    def _each(self, runs: list[HostRun], fn: Callable[[HostRun], None]) -> None:
        self._parallel(fn, runs)

    def _parallel(
        self, fn: Callable[[HostRun], None], runs: list[HostRun], limit: int | None = None, relay: bool = True
    ) -> None:
        """`fn` on every run: inline for a single target (signals reach its steps directly), else in
        worker threads (at most `limit` at once; all at once without) while the main thread relays
        signals to them."""
        if not self.multi:
            for r in runs:
                fn(r)
            return
        if not runs:
            return
        workers = max(1, min(limit or len(runs), len(runs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freigabe-host") as pool:
            futures = [pool.submit(fn, r) for r in runs]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.05)
                signum = interrupts.take_pending()
                if signum is not None and relay:
                    self.stop.signum = signum
                    with self._print:
                        self.reporter.note("signal received: every host stops at its next step")
            for future in futures:
                future.result()
