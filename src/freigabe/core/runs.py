"""What the ledger says about the live release and the runs that touched it. Pure.

A release is *verified* when the last run that switched `current` to it finished by proving
it answers: a deploy (or manual rollback, or recovery) that ended `deployed`, or an automatic
rollback that ended `rolled_back` with that release restored. A run that switched and then
stopped (killed, a second signal, a rollback that failed) leaves the live release unverified;
`status`, the audit and the next plan all name it, and `freigabe recover ENV` resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Entry = dict[str, Any]


@dataclass(frozen=True)
class LiveState:
    current: str | None
    known: bool  # freigabe recorded the switch that made `current` live
    verified: bool
    run: str | None = None  # the run that made it live
    kind: str | None = None  # that run's plan kind
    release: str | None = None  # the release that run set out to make live
    previous: str | None = None  # what was live before that run
    outcome: str | None = None  # how that run ended (None: it never finished)
    reason: str = ""

    @property
    def unverified(self) -> bool:
        return self.known and not self.verified


def _of_run(entries: list[Entry], run: str, event: str) -> list[dict[str, Any]]:
    return [e["data"] for e in entries if e.get("run") == run and e.get("event") == event]


def killed_switch_run(entries: list[Entry], current: str | None) -> str | None:
    """The run, started after the last recorded switch, that set out to make `current` live and was
    killed before it recorded its switch (or finished): it accounts for a `current` no switch names."""
    last = max((i for i, e in enumerate(entries) if e.get("event") == "switch"), default=-1)
    later = entries[last + 1 :]
    for entry in reversed(later):
        if (
            entry.get("event") == "run.started"
            and entry["data"].get("release") == current
            and not _of_run(later, entry["run"], "run.finished")
        ):
            return str(entry["run"])
    return None


def covers(entries: list[Entry], current: str | None, runs: int) -> bool:
    """Whether the newest `entries` hold all that `status` and the audit read: the last `runs`
    runs from their start, and the switch that made `current` live with its run's start."""
    started = {e["run"] for e in entries if e.get("event") == "run.started"}
    if len(started) < runs:
        return False
    if current is None:
        return True
    switch = next(
        (e for e in reversed(entries) if e.get("event") == "switch" and e["data"].get("release") == current), None
    )
    return switch is not None and switch["run"] in started


def live_state(entries: list[Entry], current: str | None) -> LiveState:
    if current is None:
        return LiveState(None, known=False, verified=False, reason="no release is live")
    switch = next(
        (e for e in reversed(entries) if e.get("event") == "switch" and e["data"].get("release") == current), None
    )
    if switch is None:
        # Killed between the rename and its ledger entry: the run set out to make `current` live
        # and never finished, but no switch was recorded.
        killed = killed_switch_run(entries, current)
        if killed is None:
            return LiveState(current, known=False, verified=False, reason=f"{current} was not made live by freigabe")
        switch = next(e for e in entries if e.get("run") == killed and e.get("event") == "run.started")
    run = switch["run"]
    started = (_of_run(entries, run, "run.started") or [{}])[0]
    finished = _of_run(entries, run, "run.finished")
    outcome = finished[-1].get("outcome") if finished else None
    restored = {d.get("restored") for d in _of_run(entries, run, "rollback.verified")}
    verified = (outcome == "deployed" and started.get("release") == current) or (
        outcome == "rolled_back" and current in restored
    )
    base = {
        "run": run,
        "kind": started.get("kind"),
        "release": started.get("release"),
        "previous": started.get("previous_release"),
        "outcome": outcome,
    }
    if verified:
        return LiveState(current, known=True, verified=True, reason=f"verified by run {run} ({outcome})", **base)
    # A later `freigabe recover` that proved the live release answers verifies it.
    after = entries[entries.index(switch) + 1 :]
    for entry in after:
        data = entry["data"]
        if entry.get("event") == "run.started" and data.get("kind") == "recover" and data.get("release") == current:
            ended = _of_run(after, entry["run"], "run.finished")
            if ended and ended[-1].get("outcome") == "deployed":
                return LiveState(
                    current, known=True, verified=True, reason=f"verified by recovery run {entry['run']}", **base
                )
    if outcome is None:
        why = f"run {run} switched to {current} and never finished (killed or stopped)"
    elif outcome == "rollback_failed":
        why = f"run {run} rolled back to {current}, but {current} did not pass its checks (or the rollback was stopped)"
    else:
        why = f"run {run} switched to {current} and ended {outcome} without verifying it"
    return LiveState(current, known=True, verified=False, reason=why, **base)


@dataclass(frozen=True)
class RunSummary:
    run: str
    ts: str
    kind: str | None
    outcome: str
    release: str | None
    reason: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What happened, in words: a manual rollback is a rollback, not a deploy."""
        if self.kind == "rollback" and self.outcome == "deployed":
            return "rolled back (manual)"
        if self.kind == "recover" and self.outcome == "deployed":
            return "recovered (verified)"
        if self.outcome == "rolled_back":
            return "rolled back (automatic, verified)"
        return self.outcome


def runs(entries: list[Entry], limit: int) -> list[RunSummary]:
    """The last `limit` runs, newest first, including runs that never finished."""
    order: list[str] = []
    started: dict[str, Entry] = {}
    finished: dict[str, Entry] = {}
    for entry in entries:
        run = entry.get("run", "")
        if entry.get("event") == "run.started":
            started[run] = entry
            if run not in order:
                order.append(run)
        elif entry.get("event") == "run.finished":
            finished[run] = entry
            if run not in order:
                order.append(run)
    out = []
    for run in reversed(order[-limit:]):
        begin, end = started.get(run), finished.get(run)
        data = (end or begin or {"data": {}})["data"]
        out.append(
            RunSummary(
                run=run,
                ts=(end or begin or {}).get("ts", ""),
                kind=(begin or {"data": {}})["data"].get("kind"),
                outcome=data.get("outcome") or "unfinished (the process was killed)",
                release=(begin or {"data": {}})["data"].get("release") or data.get("release"),
                reason=data.get("reason"),
            )
        )
    return out
