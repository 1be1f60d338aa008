"""Facts about GitHub Actions workflows: files parsed as YAML, with line numbers.

Only gathers; the judgement is in `freigabe.audit.repo`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of each mapping as `__line__` (1-based)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 reads the key `on:` as the boolean True; workflows mean the string.
_LineLoader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class RunStep:
    job: str
    name: str
    line: int  # line of the step in the workflow file
    run: str | None
    uses: str | None
    with_: dict[str, Any]
    if_: str | None
    id: str | None
    run_line: int = 0  # line of the script's first line in the file

    @property
    def label(self) -> str:
        return self.name or self.id or (self.uses or "run")


@dataclass
class Workflow:
    path: Path
    rel: str  # e.g. .github/workflows/deploy.yml
    name: str
    triggers: dict[str, Any]
    jobs: dict[str, dict[str, Any]]
    steps: list[RunStep] = field(default_factory=list)
    error: str | None = None

    @property
    def file(self) -> str:
        return self.path.name

    def text(self) -> str:
        return "\n".join(s.run or "" for s in self.steps)

    def location(self, step: RunStep, offset: int = 1) -> str:
        """file:line of line `offset` (1-based) of the step's script."""
        return f"{self.rel}:{(step.run_line or step.line) + offset - 1}"


_RUN_KEY = re.compile(r"^\s*(?:-\s+)?run:\s*([|>][-+]?)?\s*(.*)$")


def _run_line(lines: list[str], step_line: int) -> int:
    """The file line where a step's `run:` script starts (the line after `run: |`)."""
    for number in range(step_line, min(step_line + 40, len(lines) + 1)):
        match = _RUN_KEY.match(lines[number - 1])
        if match:
            return number + 1 if match.group(1) else number
    return step_line


def _steps(jobs: dict[str, Any], lines: list[str]) -> list[RunStep]:
    out = []
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            continue
        for step in job.get("steps") or []:
            if not isinstance(step, dict):
                continue
            out.append(
                RunStep(
                    job=str(job_id),
                    name=str(step.get("name") or ""),
                    line=int(step.get("__line__", 0)),
                    run=step.get("run") if isinstance(step.get("run"), str) else None,
                    uses=step.get("uses") if isinstance(step.get("uses"), str) else None,
                    with_={k: v for k, v in (step.get("with") or {}).items() if k != "__line__"}
                    if isinstance(step.get("with"), dict)
                    else {},
                    if_=str(step["if"]) if "if" in step else None,
                    id=str(step["id"]) if "id" in step else None,
                    run_line=_run_line(lines, int(step.get("__line__", 0))) if "run" in step else 0,
                )
            )
    return out


def load_workflows(repo: Path) -> list[Workflow]:
    folder = repo / ".github" / "workflows"
    workflows = []
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []
    for path in files:
        rel = str(path.relative_to(repo))
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.load(text, Loader=_LineLoader)  # noqa: S506
        except yaml.YAMLError as exc:
            workflows.append(Workflow(path, rel, rel, {}, {}, error=f"not valid YAML: {exc}"))
            continue
        if not isinstance(data, dict):
            workflows.append(Workflow(path, rel, rel, {}, {}, error="not a mapping"))
            continue
        triggers = data.get("on", {})
        if isinstance(triggers, str):
            triggers = {triggers: {}}
        elif isinstance(triggers, list):
            triggers = {str(t): {} for t in triggers}
        raw_jobs = data.get("jobs")
        jobs = {k: v for k, v in raw_jobs.items() if k != "__line__"} if isinstance(raw_jobs, dict) else {}
        workflows.append(
            Workflow(
                path, rel, str(data.get("name") or rel), dict(triggers or {}), jobs, _steps(jobs, text.splitlines())
            )
        )
    return workflows


@dataclass(frozen=True)
class LinterRun:
    tool: str
    installed: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def find_tool(name: str) -> str | None:
    """On PATH, or installed beside this Python (the `audit` extra in a virtualenv)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def run_actionlint(repo: Path) -> LinterRun:
    exe = find_tool("actionlint")
    if exe is None:
        return LinterRun("actionlint", False)
    proc = subprocess.run(
        [exe, "-format", "{{json .}}"], cwd=repo, capture_output=True, text=True, timeout=120, check=False
    )
    try:
        found = json.loads(proc.stdout or "[]")
    except ValueError:
        return LinterRun("actionlint", True, error=(proc.stderr or proc.stdout)[:300])
    return LinterRun("actionlint", True, list(found or []))


def run_zizmor(repo: Path) -> LinterRun:
    exe = find_tool("zizmor")
    if exe is None:
        return LinterRun("zizmor", False)
    proc = subprocess.run(
        [exe, "--offline", "--format", "json", "--no-progress", str(repo / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        found = json.loads(proc.stdout or "[]")
    except ValueError:
        return LinterRun("zizmor", True, error=(proc.stderr or proc.stdout)[:300])
    return LinterRun("zizmor", True, list(found or []))
