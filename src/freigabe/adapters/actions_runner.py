"""GitHub Actions workflow commands: what a step prints or writes so the runner acts on it.

`::add-mask::`, `::group::`/`::endgroup::`, `::error`/`::warning`/`::notice` with file and
line, the job summary (`$GITHUB_STEP_SUMMARY`) and step outputs (`$GITHUB_OUTPUT`), escaped
as GitHub documents (`%`, CR and LF in messages; also `:` and `,` in properties).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class WorkflowCommands:
    """Writes workflow commands and the job's files. The runner reads commands on stdout and
    stderr alike; stderr is the default, so `--json` on stdout stays parseable."""

    def __init__(self, write: Callable[[str], None] = _stderr) -> None:
        self.write = write
        self.masked: set[str] = set()

    def mask(self, value: str | None) -> None:
        """Register a secret before anything could print it; each line of a multi-line value."""
        for part in (value or "").splitlines():
            part = part.strip()
            if len(part) >= 4 and part not in self.masked:
                self.masked.add(part)
                self.write(f"::add-mask::{escape_data(part)}")

    def group(self, title: str) -> None:
        self.write(f"::group::{escape_data(title)}")

    def endgroup(self) -> None:
        self.write("::endgroup::")

    def annotate(
        self, level: str, message: str, *, title: str | None = None, file: str | None = None, line: int | None = None
    ) -> None:
        props = {"file": file, "line": str(line) if line else None, "title": title}
        text = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
        self.write(f"::{level}{' ' + text if text else ''}::{escape_data(message)}")

    def summary(self, markdown: str) -> None:
        path = os.environ.get("GITHUB_STEP_SUMMARY")
        if path:
            with Path(path).open("a", encoding="utf-8") as fh:
                fh.write(markdown.rstrip("\n") + "\n\n")

    def output(self, name: str, value: str) -> None:
        path = os.environ.get("GITHUB_OUTPUT")
        if not path:
            return
        with Path(path).open("a", encoding="utf-8") as fh:
            if "\n" in value:
                delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
                fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                fh.write(f"{name}={value}\n")


def run_url() -> str | None:
    """This job's run page, from the runner's environment."""
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None
