"""The one interpreter of steps, and the only code with side effects on a target.

Policy: a failing step with `abort` (or any failure before the switch) stops the run and
leaves `current` untouched; `warn` is recorded and the run goes on; `rollback` (after
the switch) runs the plan's rollback steps, which switch back to the release that was
live before this deploy, reload, and verify it answers healthy again.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from freigabe import failpoints
from freigabe.adapters import health
from freigabe.adapters.bundle import BundleScan
from freigabe.adapters.transport import Transport
from freigabe.core.layout import Layout
from freigabe.core.ledger import utc_now
from freigabe.core.output import headline
from freigabe.core.plan import Plan, Step
from freigabe.core.redact import Redactor
from freigabe.core.releases import select_for_removal
from freigabe.core.words import plural
from freigabe.errors import (
    BundleError,
    FreigabeError,
    GateFailed,
    RollbackFailed,
    RolledBack,
    RunInterrupted,
    StepFailed,
    TargetError,
)
from freigabe.interrupts import Interrupted, critical
from freigabe.usecases.records import Recorder


@dataclass
class Outcome:
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: FreigabeError | None = None
    status: str = ""  # ok | failed | warned
    warning: str | None = None  # a passing step that still has something to say

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "ok" if self.ok else "failed"


class Reporter(Protocol):
    def step_started(self, step: Step, index: int, total: int) -> None: ...
    def step_finished(self, step: Step, outcome: Outcome) -> None: ...
    def output(self, step: Step, line: str) -> None: ...
    def note(self, text: str) -> None: ...


class QuietReporter:
    def step_started(self, step: Step, index: int, total: int) -> None:
        return None

    def step_finished(self, step: Step, outcome: Outcome) -> None:
        return None

    def output(self, step: Step, line: str) -> None:
        return None

    def note(self, text: str) -> None:
        return None


@dataclass
class RunResult:
    run: str
    plan_id: str
    environment: str
    release: str
    previous_release: str | None
    outcome: str  # deployed | rolled_back | aborted | rollback_failed
    steps: list[tuple[Step, Outcome]] = field(default_factory=list)
    rollback: list[tuple[Step, Outcome]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# tar often runs as root on targets: take neither the archive's owner nor its mode bits
# (umask 022 clears group/other write; setuid, setgid and sticky bits were refused by the scan).
EXTRACT = ["sh", "-c", 'umask 022 && exec tar -xzf "$1" -C "$2" --no-same-owner --no-same-permissions', "sh"]

_ERROR_FOR_ACTION: dict[str, type[FreigabeError]] = {
    "bundle.upload": BundleError,
    "bundle.verify": BundleError,
    "release.extract": BundleError,
    "gate.files": GateFailed,
    "target.check": TargetError,
    "url.check": TargetError,
}


class Executor:
    def __init__(
        self,
        *,
        plan: Plan,
        transport: Transport,
        recorder: Recorder,
        redactor: Redactor,
        reporter: Reporter,
        log_dir: Path,
        bundle_path: Path | None = None,
        scan: BundleScan | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.t = transport
        self.recorder = recorder
        self.redactor = redactor
        self.reporter = reporter
        self.log_dir = log_dir
        self.bundle_path = bundle_path
        self.scan = scan
        self.sleep = sleep
        self.layout = Layout(plan.deploy_path)
        self.result = RunResult(recorder.run, plan.id, plan.environment, plan.release, plan.previous_release, "running")
        self._counter = 0
        # current was replaced by this run (a recovery starts with its release already live)
        self._switched = plan.kind == "recover"
        self._failure: str | None = None  # why the run is rolling back, for the bad mark

    # ------------------------------------------------------------ driving

    def execute(self) -> RunResult:
        plan = self.plan
        self.recorder.record(
            "run.started",
            plan=plan.id,
            kind=plan.kind,
            release=plan.release,
            previous_release=plan.previous_release,
            bundle=plan.bundle.model_dump(exclude={"path"}) if plan.bundle else None,
            current_before=self._current(),
        )
        total = len(plan.steps)
        for index, step in enumerate(plan.steps, start=1):
            try:
                outcome = self._run(step, index, total)
            except Interrupted as signal:
                if self._interrupted(step, signal):
                    break  # only the finish phase was left: the release is live and verified
                raise AssertionError("unreachable: _interrupted raises unless the run is done") from None
            self.result.steps.append((step, outcome))
            if outcome.ok:
                if outcome.warning:
                    self.result.warnings.append(f"{step.id}: {outcome.warning}")
                continue
            if step.on_failure == "warn":
                outcome.status = "warned"
                self.result.warnings.append(f"{step.id}: {outcome.summary}")
                continue
            if step.on_failure == "rollback" and self._switched:
                self._rollback(step, outcome)
            self._abort(step, outcome)
        self.result.outcome = "preflight passed" if plan.kind == "preflight" else "deployed"
        self.recorder.record(
            "run.finished",
            outcome=self.result.outcome,
            release=plan.release,
            current_after=self._current(),
            warnings=self.result.warnings,
        )
        return self.result

    def _interrupted(self, step: Step, signal: Interrupted) -> bool:
        """A signal stopped `step`. Before the switch: stop cleanly. After it: roll back and verify,
        as for a failed check. In the finish phase (the release already verified): finish the
        marks and skip the rest. Returns True only in that last case; raises otherwise."""
        reason = f"interrupted by {signal.signal} during {step.id}"
        self.recorder.record("step.finished", step=step.id, outcome="interrupted", summary=reason)
        self.recorder.record(
            "run.interrupted", signal=signal.signal, step=step.id, switched=self._switched, phase=step.phase
        )
        self.reporter.note(reason)
        if step.phase == "finish" and self._switched:
            self.result.warnings.append(f"{reason}: the remaining finish steps were skipped")
            if not any(s.id == "release.mark" for s, o in self.result.steps if o.ok):
                with critical():
                    self._write_mark(self.plan.release, "good", f"{self.plan.kind} {self.recorder.run}")
            return True
        outcome = Outcome(False, reason, error=RunInterrupted(reason))
        if self._switched:
            self._rollback(step, outcome)
        self._abort(step, outcome, interrupted=True)
        return False

    def _run(self, step: Step, index: int, total: int) -> Outcome:
        self._counter += 1
        self.reporter.step_started(step, index, total)
        self.recorder.record("step.started", step=step.id, action=step.action, title=step.title)
        started = time.monotonic()
        handler = getattr(self, "_do_" + step.action.replace(".", "_"))
        try:
            failpoints.hit(f"step.before:{step.id}")
            outcome: Outcome = handler(step)
            failpoints.hit(f"step.after:{step.id}")
        except FreigabeError as exc:
            outcome = Outcome(False, exc.message, error=exc)
        except OSError as exc:
            outcome = Outcome(False, f"{type(exc).__name__}: {exc.strerror or exc}")
        outcome.seconds = round(time.monotonic() - started, 3)
        outcome.summary = self.redactor.text(outcome.summary)
        self.recorder.record(
            "step.finished",
            step=step.id,
            outcome="ok" if outcome.ok else ("warned" if step.on_failure == "warn" else "failed"),
            seconds=outcome.seconds,
            summary=outcome.summary,
            details=outcome.details,
        )
        self.reporter.step_finished(step, outcome)
        return outcome

    def _abort(self, step: Step, outcome: Outcome, interrupted: bool = False) -> None:
        plan = self.plan
        release_dir = self.layout.release(plan.release)
        partial = self.layout.partial(plan.release)
        if self.t.exists(partial):
            self.t.remove_tree(partial)
        left = self._current()
        if plan.kind == "deploy" and self.t.exists(release_dir) and left != plan.release:
            if interrupted:  # an interrupted release never ran all its gates: it is not kept
                for path in (release_dir, self.layout.manifest(plan.release), self.layout.sums(plan.release)):
                    self.t.remove_tree(path)
            else:
                self._write_mark(plan.release, "bad", f"aborted at {step.id}: {outcome.summary}")
        self.result.outcome = "interrupted" if interrupted else "aborted"
        self.recorder.record(
            "run.finished",
            outcome=self.result.outcome,
            failed_step=step.id,
            reason=outcome.summary,
            current_after=left,
        )
        live = f"current still points at {left}" if left else "no release was live"
        message = (
            f"{plan.kind} to {plan.environment} on {self.t.name} stopped at {step.id} ({outcome.summary}); "
            f"nothing live was changed: {live}"
        )
        error_type = (
            type(outcome.error)
            if outcome.error
            else _ERROR_FOR_ACTION.get(step.action, GateFailed if step.id.startswith("gate.") else StepFailed)
        )
        if error_type is RolledBack or issubclass(error_type, RollbackFailed):
            error_type = StepFailed
        if interrupted:
            raise RunInterrupted(
                f"{plan.kind} to {plan.environment} on {self.t.name} was {outcome.summary}; it stopped "
                f"before the switch and the unfinished release was removed; {live}"
            )
        raise error_type(message)

    def _rollback(self, step: Step, outcome: Outcome) -> None:
        plan = self.plan
        reason = f"{step.id}: {outcome.summary}"
        restore = plan.previous_release
        self.recorder.record("rollback.started", reason=reason, restore=restore)
        self.reporter.note(f"{step.id} failed after the switch: rolling back to {restore}")
        if not plan.rollback_steps:
            self._write_mark(plan.release, "bad", reason)
            self.result.outcome = "rollback_failed"
            self.recorder.record("rollback.impossible", reason="no release was live before this deploy")
            self.recorder.record(
                "run.finished", outcome="rollback_failed", reason=reason, current_after=self._current()
            )
            raise RollbackFailed(
                f"{reason}; there is no earlier release to roll back to (first deploy), so "
                f"{plan.release} stays live and is marked bad — fix it and deploy again"
            )
        self._failure = reason
        total = len(plan.rollback_steps)
        for index, rstep in enumerate(plan.rollback_steps, start=1):
            try:
                routcome = self._run(rstep, index, total)
            except Interrupted as again:
                self._rollback_interrupted(rstep, reason, again)
            self.result.rollback.append((rstep, routcome))
            if not routcome.ok and rstep.on_failure != "warn":
                self.result.outcome = "rollback_failed"
                self.recorder.record(
                    "rollback.failed",
                    reason=reason,
                    failed_step=rstep.id,
                    detail=routcome.summary,
                    current_after=self._current(),
                )
                self.recorder.record(
                    "run.finished", outcome="rollback_failed", reason=reason, current_after=self._current()
                )
                raise RollbackFailed(
                    f"{reason}; the rollback to {restore} failed at {rstep.id} "
                    f"({routcome.summary}) — the site needs attention now (current: {self._current()})"
                )
        self.result.outcome = "rolled_back"
        self.recorder.record(
            "rollback.verified",
            restored=restore,
            failed_release=plan.release,
            current_after=self._current(),
            reason=reason,
        )
        self.recorder.record("run.finished", outcome="rolled_back", reason=reason, current_after=self._current())
        raise RolledBack(
            f"{plan.environment}: {reason}; rolled back to {restore}, which answers healthy "
            f"again (verified); {plan.release} is marked bad"
        )

    def _rollback_interrupted(self, rstep: Step, reason: str, signal: Interrupted) -> None:
        """A signal stopped the rollback itself: leave a state that status, the audit and the next
        plan all name, and say which command resolves it."""
        self.result.outcome = "rollback_failed"
        live = self._current()
        self.recorder.record("step.finished", step=rstep.id, outcome="interrupted", summary=str(signal))
        self.recorder.record(
            "rollback.failed",
            reason=reason,
            failed_step=rstep.id,
            detail=f"{signal} stopped the rollback",
            current_after=live,
        )
        self.recorder.record("run.finished", outcome="rollback_failed", reason=reason, current_after=live)
        raise RollbackFailed(
            f"{reason}; {signal} stopped the rollback at {rstep.id}: {live or 'no release'} is live and "
            f"was not verified — run `freigabe recover {self.plan.environment}` to verify it (it rolls back "
            f"if it fails), and `freigabe status {self.plan.environment}` to see the state"
        )

    # ------------------------------------------------------------ helpers

    def _current(self) -> str | None:
        return self.layout.release_of(self.t.readlink(self.layout.current))

    def _write_mark(self, release: str, mark: str, reason: str) -> None:
        """Record a release good or bad. A bad mark keeps its first reason: later runs that meet
        the same bad release never overwrite why it failed."""
        path = self.layout.mark(release)
        if mark == "bad" and self.t.exists(path):
            try:
                if json.loads(self.t.read(path)).get("mark") == "bad":
                    return
            except ValueError:
                pass
        self.t.mkdir(self.layout.marks)
        data = {"release": release, "mark": mark, "reason": reason, "run": self.recorder.run, "ts": utc_now()}
        self.t.write(path, json.dumps(self.redactor.data(data)).encode())

    def _log(self, step: Step) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{self._counter:02d}-{step.id}.log"

    # ------------------------------------------------------------ actions

    def _do_target_check(self, step: Step) -> Outcome:
        root = step.args["deploy_path"]
        for path in (root, self.layout.releases, self.layout.shared, self.layout.state):
            self.t.mkdir(path)
        probe = f"{self.layout.state}/.write-test"
        self.t.write(probe, b"ok")
        self.t.remove(probe)
        free = self.t.disk_free(root)
        needs = int(step.args.get("needs_bytes", 0))
        if free < needs:
            raise TargetError(
                f"only {free // 2**20} MiB free at {root} but the release needs about "
                f"{needs // 2**20} MiB; free space there and deploy again"
            )
        return Outcome(True, f"writable, {free // 2**20} MiB free", {"free_bytes": free})

    def _do_url_check(self, step: Step) -> Outcome:
        url = step.args["url"]
        try:
            response = httpx.get(url, timeout=10.0, follow_redirects=False)
        except httpx.HTTPError as exc:
            return Outcome(
                False,
                f"{url} does not answer ({type(exc).__name__}); start the web server or fix `url` in freigabe.toml",
            )
        status = response.status_code
        if status >= 500 and step.args.get("had_release"):
            return Outcome(False, f"{url} answers HTTP {status}: the live site is already failing", {"status": status})
        checks, unhealthy = [], []
        for args in step.args.get("health", []):
            result = health.run_health_check(args, sleep=self.sleep)
            checks.append(result.to_json())
            if result.ok:
                continue
            if result.attempts and result.attempts[-1].status in (401, 403):
                return Outcome(
                    False,
                    f"the live release refuses the credentials of health check {result.name} "
                    f"before the deploy ({result.reason}); the checks after the switch would fail "
                    "the same way — make the token in this shell match the target's .env",
                    {"status": status, "health": checks},
                )
            unhealthy.append(f"{result.name} ({result.reason})")
        details = {"status": status, "health": checks, "live_release_healthy": not unhealthy}
        if unhealthy:
            # A broken site must stay deployable: the fix is this deploy. Say so loudly.
            warning = (
                f"the live release is already unhealthy: {', '.join(unhealthy)}; a rollback would "
                "return to it and could not be verified"
            )
            return Outcome(True, f"HTTP {status}; warning: {warning}", details, warning=warning)
        passed = f", live release healthy ({plural(len(checks), 'check')})" if checks else ""
        return Outcome(True, f"HTTP {status}{passed}", details)

    def _do_backup_create(self, step: Step) -> Outcome:
        args = step.args
        folder = args["dir"]
        self.t.mkdir(folder)
        log = self._log(step)
        archive = f"{folder}/app.tar.gz"
        argv = [
            "tar",
            "-czf",
            archive,
            "--ignore-failed-read",
            "--warning=no-file-changed",
            *(f"--exclude={pattern}" for pattern in args["exclude"]),
            "-C",
            args["root"],
            ".",
        ]
        result = self.t.run(argv, timeout=args["timeout"])
        log.write_text(self.redactor.text(result.output), encoding="utf-8")
        if result.returncode not in (0, 1):  # tar: 1 = some files changed while read
            raise StepFailed(f"app archive failed (tar exit {result.returncode}: {result.tail(1)})")
        files = ["app.tar.gz"]
        if args.get("db_dump"):
            dump = f"{folder}/db.sql"
            dumped = self.t.run(args["db_dump"], timeout=args["timeout"], stdout_path=dump)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(self.redactor.text(dumped.output))
            if not dumped.ok:
                raise StepFailed(
                    f"database dump `{args['db_dump'][0]}` failed (exit {dumped.returncode}: "
                    f"{self.redactor.text(dumped.tail(1))})"
                )
            files.append("db.sql")
        if args.get("files"):
            kept = [path.lstrip("/") for path in args["files"]]
            config = self.t.run(
                ["tar", "-czf", f"{folder}/config.tar.gz", "-C", "/", "--", *kept], timeout=args["timeout"]
            )
            if not config.ok:
                raise StepFailed(f"config archive failed (tar exit {config.returncode}: {config.tail(1)})")
            files.append("config.tar.gz")
        sums = {name: self.t.sha256(f"{folder}/{name}") for name in files}
        self.t.write(f"{folder}/SHA256SUMS", "".join(f"{d}  {n}\n" for n, d in sums.items()).encode())
        removed = self._prune_backups(posixpath.dirname(folder), int(args["keep"]))
        return Outcome(True, f"{folder} ({', '.join(files)})", {"dir": folder, "sha256": sums, "pruned": removed})

    def _prune_backups(self, parent: str, keep: int) -> list[str]:
        stamps = sorted((n for n in self.t.listdir(parent) if n[:8].isdigit()), reverse=True)
        removed = stamps[keep:]
        for name in removed:
            self.t.remove_tree(f"{parent}/{name}")
        return removed

    def _do_bundle_upload(self, step: Step) -> Outcome:
        if self.bundle_path is None:
            raise BundleError("no local bundle was given for this run; pass --bundle")
        self.t.mkdir(self.layout.bundles)
        self.t.put(str(self.bundle_path), step.args["remote"])
        return Outcome(True, f"copied to {step.args['remote']}")

    def _do_bundle_verify(self, step: Step) -> Outcome:
        actual = self.t.sha256(step.args["remote"])
        if actual != step.args["sha256"]:
            self.t.remove(step.args["remote"])
            raise BundleError(
                f"the bundle on the target has SHA-256 {actual[:12]}…, not the approved "
                f"{step.args['sha256'][:12]}…; it was damaged in transit — deploy again"
            )
        return Outcome(True, f"SHA-256 {actual[:16]}… matches", {"sha256": actual})

    def _do_release_extract(self, step: Step) -> Outcome:
        args = step.args
        release_dir, partial = args["release_dir"], args["partial_dir"]
        if self.t.exists(release_dir):
            raise StepFailed(f"{release_dir} already exists; make a new plan for a new release")
        if self.scan is None:
            raise BundleError("the bundle was not checked before extraction; this is a bug")
        self.t.remove_tree(partial)
        self.t.mkdir(partial)
        result = self.t.run([*EXTRACT, args["bundle"], partial], timeout=3600)
        self._log(step).write_text(self.redactor.text(result.output), encoding="utf-8")
        if not result.ok:
            self.t.remove_tree(partial)
            if "No space left on device" in result.output:
                raise TargetError(
                    f"disk full on the target while extracting into {partial}; free space there "
                    "and deploy again (the partial release was removed)"
                )
            raise StepFailed(f"extraction failed (tar exit {result.returncode}: {result.tail(1)})")
        revision = posixpath.join(partial, args["revision_file"])
        self.t.mkdir(posixpath.dirname(revision))
        self.t.write(revision, (args["release"] + "\n").encode())
        if args.get("preflight"):
            self.t.rename(partial, release_dir)
            return Outcome(
                True, f"{plural(len(self.scan.files), 'file')} in a temporary copy", {"files": len(self.scan.files)}
            )
        self.t.mkdir(self.layout.manifests)
        manifest = {"release": args["release"], "files": self.scan.manifest()}
        self.t.write(args["manifest"], json.dumps(manifest, indent=0).encode())
        shared = tuple(args.get("shared", []))
        lines = [
            f"{e.sha256}  ./{e.path}\n"
            for e in self.scan.files
            if not any(e.path == p or e.path.startswith(p + "/") for p in shared)
        ]
        revision_digest = hashlib.sha256((args["release"] + "\n").encode()).hexdigest()
        lines.append(f"{revision_digest}  ./{args['revision_file']}\n")
        self.t.write(self.layout.sums(args["release"]), "".join(sorted(set(lines))).encode())
        self.t.rename(partial, release_dir)
        return Outcome(
            True,
            f"{plural(len(self.scan.files), 'file')}, {self.scan.total_size // 1024} KiB",
            {"files": len(self.scan.files), "bytes": self.scan.total_size, "manifest": args["manifest"]},
        )

    def _do_shared_link(self, step: Step) -> Outcome:
        args = step.args
        release_dir, shared = args["release_dir"], args["shared_dir"]
        self.t.mkdir(shared)
        linked = []
        for rel in args["dirs"]:
            target, inside = f"{shared}/{rel}", f"{release_dir}/{rel}"
            if not self.t.exists(target):
                if self.t.is_dir(inside):
                    self.t.mkdir(posixpath.dirname(target))
                    self.t.rename(inside, target)  # the first deploy seeds shared/ from the bundle
                else:
                    self.t.mkdir(target)
            self.t.remove_tree(inside)
            self.t.mkdir(posixpath.dirname(inside))
            self.t.symlink(target, inside)
            linked.append(rel)
        for rel in args["create_dirs"]:
            self.t.mkdir(f"{shared}/{rel}")
        for rel in args["files"]:
            target, inside = f"{shared}/{rel}", f"{release_dir}/{rel}"
            if not self.t.exists(target):
                raise GateFailed(
                    f"shared file {rel} is missing at {target}; create it there (it is never shipped in a bundle)"
                )
            self.t.remove_tree(inside)
            self.t.mkdir(posixpath.dirname(inside))
            self.t.symlink(target, inside)
            linked.append(rel)
        return Outcome(True, f"linked {', '.join(linked) or 'nothing'}", {"linked": linked})

    def _do_gate_files(self, step: Step) -> Outcome:
        root = step.args["root"]
        missing = [f for f in step.args["files"] if not self.t.exists(f"{root}/{f}") or self.t.is_dir(f"{root}/{f}")]
        missing += [f"{d}/" for d in step.args["dirs"] if not self.t.is_dir(f"{root}/{d}")]
        checks = len(step.args["files"]) + len(step.args["dirs"])
        if missing:
            raise GateFailed(f"gate failed: the release lacks {', '.join(missing)}")
        return Outcome(True, f"{checks}/{checks} passed", {"passed": checks})

    def _do_command(self, step: Step) -> Outcome:
        args = step.args
        log = self._log(step)
        with log.open("w", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(args['argv'])}\n")

            def sink(line: str) -> None:
                clean = self.redactor.text(line)
                fh.write(clean + "\n")
                self.reporter.output(step, clean)

            result = self.t.run(
                args["argv"],
                cwd=args["cwd"],
                timeout=args["timeout"],
                env={
                    "FREIGABE_ENV": self.plan.environment,
                    "FREIGABE_RELEASE": self.plan.release,
                    "FREIGABE_RUN": self.recorder.run,
                },
                on_line=sink,
            )
        details = {"exit": result.returncode, "tail": self.redactor.text(result.tail(5)), "log": str(log)}
        if result.ok:
            return Outcome(True, f"exit 0 in {result.seconds:.1f} s", details)
        said = self.redactor.text(headline(result.output)) or "no output"
        what = "timed out" if result.timed_out else f"exit {result.returncode}"
        return Outcome(False, f"`{' '.join(args['argv'])}` {what}: {said}", details)

    def _do_check_link(self, step: Step) -> Outcome:
        link = self.t.readlink(step.args["path"])
        if link is None or not link.startswith(step.args["into"]):
            raise GateFailed(f"{step.args['path']} is not a link into {step.args['into']} ({link or 'not a link'})")
        return Outcome(True, f"→ {link}")

    def _do_migrations_pending(self, step: Step) -> Outcome:
        args = step.args
        result = self.t.run(args["argv"], cwd=args["cwd"], timeout=args["timeout"])
        if not result.ok:
            return Outcome(False, f"`{' '.join(args['argv'])}` exit {result.returncode}: {result.tail(1)}")
        pending = [ln.strip() for ln in result.output.splitlines() if "pending" in ln.lower()]
        summary = f"{len(pending)} pending" + (f": {'; '.join(pending[:5])}" if pending else "")
        return Outcome(True, summary, {"pending": pending})

    def _do_switch(self, step: Step) -> Outcome:
        link, target = step.args["link"], step.args["target"]
        before = self.t.readlink(link)
        if not self.t.is_dir(posixpath.join(posixpath.dirname(link), target)):
            raise StepFailed(f"{target} is not a complete release on the target")
        with critical():  # the switch and its ledger entry: never one without the other
            self.t.replace_symlink(target, link)
            self._switched = True  # the link was replaced, even if it then reads back wrong
            failpoints.hit("switch.recorded-before")
            after = self.t.readlink(link)
            self.recorder.record("switch", before=before, after=after, release=step.args["release"])
        if after != target:
            return Outcome(False, f"current points at {after}, expected {target}", {"before": before, "after": after})
        return Outcome(True, f"{before or '(none)'} → {after}", {"before": before, "after": after})

    def _do_wait_ready(self, step: Step) -> Outcome:
        args = step.args
        started = time.monotonic()
        probe = args.get("probe")
        if probe is None:  # nothing can prove which release answers: only a fixed wait is left
            if args["grace"]:
                self.sleep(float(args["grace"]))
            return Outcome(True, f"waited {args['grace']:g} s (no release probe configured)")
        want = args["expect_release"]
        deadline = started + float(args["timeout"])
        missing_after = float(args.get("missing_after", 3.0))
        seen, detail, polls, missing_since = None, "", 0, None
        while True:
            polls += 1
            seen, detail = health.probe_release(probe, timeout=min(5.0, float(args["timeout"])))
            now = time.monotonic()
            if seen == want:
                return Outcome(
                    True,
                    f"{want} answers after {now - started:.2f} s",
                    {"release": seen, "seconds_to_ready": round(now - started, 3), "polls": polls},
                )
            # A release has its probe file or not: a 404 does not go away by waiting.
            missing_since = (missing_since or now) if detail == "HTTP 404" else None
            if missing_since is not None and now - missing_since >= missing_after:
                return Outcome(
                    False,
                    f"{want} is not answering: {probe['url']} answers HTTP 404 (the release that answers has no "
                    f"release probe; it is broken or not the one deployed)",
                    {"last_seen": None, "polls": polls, "status": 404},
                )
            if now >= deadline:
                break
            self.sleep(float(args["interval"]))
        answered = f"{seen} answered" if seen else f"the probe got {detail}"
        return Outcome(
            False,
            f"{want} was not answering after {args['timeout']:g} s ({answered} at {probe['url']})",
            {"last_seen": seen, "polls": polls},
        )

    def _do_health_check(self, step: Step) -> Outcome:
        def show(attempt: health.Attempt) -> None:
            self.reporter.output(step, f"attempt {attempt.number}/{step.args['attempts']}: {attempt.reason}")

        result = health.run_health_check(step.args, sleep=self.sleep, on_attempt=show)
        details = result.to_json()
        tries = len(result.attempts)
        if result.ok:
            return Outcome(True, f"{result.reason} (attempt {tries}/{step.args['attempts']})", details)
        return Outcome(False, f"{result.name} failed {tries}× — last: {result.reason}", details)

    def _do_assets_check(self, step: Step) -> Outcome:
        report = health.check_assets(step.args)
        details = {"manifest": report.manifest_url, "checked": report.checked}
        if report.ok:
            return Outcome(True, f"{plural(len(report.checked), 'asset')} served", details)
        return Outcome(False, report.problem, details)

    def _do_release_mark(self, step: Step) -> Outcome:
        mark = step.args["mark"]
        reason = self._failure if mark == "bad" and self._failure else f"{self.plan.kind} {self.recorder.run}"
        self._write_mark(step.args["release"], mark, reason)
        return Outcome(True, f"{step.args['release']}: {mark}")

    def _do_cleanup(self, step: Step) -> Outcome:
        releases = [n for n in self.t.listdir(self.layout.releases) if not n.startswith(".")]
        protected = {self._current(), self.plan.previous_release, self.plan.release}
        doomed = select_for_removal(releases, keep=int(step.args["keep"]), protected=protected)
        for name in doomed:
            self.t.remove_tree(self.layout.release(name))
            self.t.remove(self.layout.manifest(name))
            self.t.remove(self.layout.sums(name))
            self.t.remove(self.layout.mark(name))
        for name in self.t.listdir(self.layout.bundles):
            if name != posixpath.basename(self.plan.bundle.name if self.plan.bundle else ""):
                self.t.remove(f"{self.layout.bundles}/{name}")
        return Outcome(True, f"removed {plural(len(doomed), 'old release')}", {"removed": doomed})
