"""What a step handler may use while it runs: the target, the ledger, the redactor, the reporter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from freigabe.adapters.bundle import BundleScan
from freigabe.adapters.transport import Transport
from freigabe.adapters.transport.receive import Received
from freigabe.config.models import GitHubConfig
from freigabe.core.layout import Layout
from freigabe.core.ledger import utc_now
from freigabe.core.plan import Plan, Step
from freigabe.core.redact import Redactor
from freigabe.engine.outcome import Reporter
from freigabe.engine.recorder import Recorder


@dataclass
class RunContext:
    plan: Plan
    t: Transport
    layout: Layout
    recorder: Recorder
    redactor: Redactor
    reporter: Reporter
    log_dir: Path
    bundle_path: Path | None = None
    scan: BundleScan | None = None
    received: Received | None = None  # what bundle.upload measured on the target
    unpacked: str = ""  # the hidden folder bundle.upload unpacked into
    sleep: Callable[[float], None] = time.sleep
    github: GitHubConfig | None = None
    switched: bool = False  # current was replaced by this run
    failure: str | None = None  # why the run is rolling back (the bad mark's reason)
    counter: int = 0  # steps run, for the step log names
    switched_at: float | None = None  # time.monotonic() right after `current` was replaced (a fleet's skew)
    link_known: bool = False  # `link` is where `current` points (seen under the lock); else read it
    link: str | None = None

    @property
    def run(self) -> str:
        return self.recorder.run

    def current(self) -> str | None:
        """The release `current` serves. Under the lock only this run changes the link, and its
        switch reads it back: a link seen under the lock (`knows_link`) stays true until the run's
        next switch, so it is not read again. A switch that did not answer makes it unknown."""
        return self.layout.release_of(self.current_link())

    def current_link(self) -> str | None:
        """Where the `current` link points, as written (see `current`)."""
        return self.link if self.link_known else self.t.readlink(self.layout.current)

    def knows_link(self, link: str | None, known: bool = True) -> None:
        self.link, self.link_known = link, known

    def log(self, step: Step) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{self.counter:02d}-{step.id}.log"

    def write_mark(self, release: str, mark: str, reason: str) -> None:
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
        data = {"release": release, "mark": mark, "reason": reason, "run": self.run, "ts": utc_now()}
        self.t.write(path, json.dumps(self.redactor.data(data)).encode())
