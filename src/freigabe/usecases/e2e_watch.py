"""Phases 1 and 2 of the E2E: find or dispatch the build, dispatch the deploy, follow both runs.

A build is found by workflow file, head SHA and conclusion — never `[0]` of an unfiltered list.
A dispatch takes the run id from the answer (`return_run_details`, 2026) and falls back to the
runs of that workflow dispatched on that ref since just before the call. Following a run
reports each job's steps as they start and end, and ends with one clear sentence per state:
queued too long, waiting for an environment reviewer, cancelled, failed at step N, timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from freigabe.adapters.github_actions import Actions
from freigabe.errors import E2EFailed, E2ETimeout


class Progress(Protocol):
    def note(self, text: str) -> None: ...
    def step(self, job: str, number: int, name: str, state: str) -> None: ...


class QuietProgress:
    def note(self, text: str) -> None:
        return None

    def step(self, job: str, number: int, name: str, state: str) -> None:
        return None


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Watched:
    run: dict[str, Any]
    jobs: list[dict[str, Any]]
    failed_step: str | None
    seconds: float  # the run's own time, from GitHub's timestamps
    waited_for_review: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def conclusion(self) -> str:
        return str(self.run.get("conclusion") or self.run.get("status"))


def failed_step(jobs: list[dict[str, Any]]) -> str | None:
    for job in jobs:
        if job.get("conclusion") in ("failure", "cancelled", "timed_out"):
            for step in job.get("steps") or []:
                if step.get("conclusion") in ("failure", "cancelled", "timed_out"):
                    return f"step {step.get('number')} ({step.get('name')}) of job {job.get('name')}"
            return f"job {job.get('name')}"
    return None


def run_seconds(run: dict[str, Any], jobs: list[dict[str, Any]]) -> float:
    start = parse_time(run.get("run_started_at") or run.get("created_at"))
    ends = [parse_time(j.get("completed_at")) for j in jobs] + [parse_time(run.get("updated_at"))]
    done = [e for e in ends if e is not None]
    return max(done) - start if start is not None and done else 0.0


class Watcher:
    def __init__(
        self,
        actions: Actions,
        timeouts: dict[str, float],
        poll: float,
        progress: Progress,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.actions = actions
        self.timeouts = timeouts
        self.poll = poll
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.dispatched: list[int] = []

    # ------------------------------------------------------------ build

    def find_build(self, workflow: str, sha: str) -> dict[str, Any] | None:
        runs = self.actions.runs(workflow, 20, head_sha=sha, status="success")
        good = [
            r
            for r in runs
            if r.get("head_sha") == sha and r.get("status") == "completed" and r.get("conclusion") == "success"
        ]
        return good[0] if good else None

    # ------------------------------------------------------------ dispatch

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> int:
        since = iso(time.time() - 2)
        answer = self.actions.dispatch(workflow, ref, inputs)
        if answer.run_id is not None:
            self.dispatched.append(answer.run_id)
            return answer.run_id
        self.progress.note(f"{workflow}: the dispatch returned no run id (HTTP {answer.status}); finding the run")
        deadline = self.clock() + self.timeouts["queue"]
        while True:
            runs = self.actions.runs(workflow, 20, event="workflow_dispatch", branch=ref, created=f">={since}")
            mine = [r for r in runs if r.get("event") == "workflow_dispatch" and str(r.get("created_at")) >= since]
            if len(mine) > 1:
                raise E2EFailed(
                    f"{len(mine)} runs of {workflow} were dispatched on {ref} since {since}; cannot tell which one "
                    "is this E2E's — run it again when no one else dispatches (or on a server with return_run_details)"
                )
            if mine:
                self.dispatched.append(int(mine[0]["id"]))
                return int(mine[0]["id"])
            if self.clock() > deadline:
                raise E2ETimeout(
                    f"{workflow} was dispatched on {ref}, but no run appeared within {self.timeouts['queue']:.0f} s"
                )
            self.sleep(self.poll)

    # ------------------------------------------------------------ follow

    def follow(self, run_id: int, what: Literal["build", "deploy"]) -> Watched:
        started = self.clock()
        limit = self.timeouts[what]
        queued_since: float | None = None
        waiting_since: float | None = None
        waited = 0.0
        seen: dict[tuple[str, int], str] = {}
        notes: list[str] = []
        while True:
            run = self.actions.run(run_id)
            status = str(run.get("status"))
            jobs = [] if status in ("queued", "requested", "pending") else self.actions.jobs(run_id)
            self._report(jobs, seen)
            now = self.clock()
            if status == "completed":
                return Watched(run, jobs, failed_step(jobs), run_seconds(run, jobs), waited, notes)
            if status in ("queued", "requested", "pending"):
                queued_since = queued_since if queued_since is not None else now
                if now - queued_since > self.timeouts["queue"]:
                    self._give_up(
                        run,
                        f"{what} run {run_id} was still queued after {self.timeouts['queue']:.0f} s "
                        "(no runner took it)",
                    )
            else:
                queued_since = None
            if status == "waiting":
                if waiting_since is None:
                    waiting_since = now
                    note = self._waiting_note(run_id)
                    notes.append(note)
                    self.progress.note(note)
                if now - waiting_since > self.timeouts["review"]:
                    self._give_up(run, f"{notes[-1]}; nobody approved within {self.timeouts['review']:.0f} s")
            elif waiting_since is not None:
                waited += now - waiting_since
                waiting_since = None
            if now - started - waited > limit:
                self._give_up(run, f"{what} run {run_id} is still {status} after {limit:.0f} s", cancel=what == "build")
            self.sleep(self.poll)

    def _waiting_note(self, run_id: int) -> str:
        pending = self.actions.pending_deployments(run_id)
        if not pending:
            return f"run {run_id} is waiting (a wait timer or a deployment protection rule)"
        names = ", ".join(str(p.get("environment", {}).get("name")) for p in pending)
        people = sorted(
            {
                str((r.get("reviewer") or {}).get("login") or (r.get("reviewer") or {}).get("name"))
                for p in pending
                for r in p.get("reviewers") or []
            }
        )
        return f"run {run_id} is waiting for a reviewer of environment {names}" + (
            f" (reviewers: {', '.join(people)})" if people else ""
        )

    def _give_up(self, run: dict[str, Any], why: str, cancel: bool = True) -> None:
        """Cancel a run this E2E dispatched that has not started to deploy, then stop waiting."""
        run_id = int(run["id"])
        if cancel and run_id in self.dispatched:
            status = self.actions.cancel(run_id)
            raise E2ETimeout(f"{why}; e2e cancelled it (HTTP {status}): {run.get('html_url')}")
        raise E2ETimeout(f"{why}; it was not cancelled, watch it at {run.get('html_url')}")

    def _report(self, jobs: list[dict[str, Any]], seen: dict[tuple[str, int], str]) -> None:
        for job in jobs:
            for step in job.get("steps") or []:
                key = (str(job.get("name")), int(step.get("number") or 0))
                state = str(step.get("conclusion") or step.get("status"))
                if seen.get(key) != state and state not in ("queued",):
                    seen[key] = state
                    self.progress.step(key[0], key[1], str(step.get("name")), state)
