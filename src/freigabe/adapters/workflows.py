"""Facts about GitHub Actions workflows: files read as YAML with line numbers, scripts parsed.

Only gathers (reads files, parses YAML and shell, runs linters); the judgement is in
`freigabe.audit.checks`. What it builds are the dataclasses of `freigabe.audit.facts`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from freigabe.adapters.shell_parse import parse_script
from freigabe.audit.facts import Job, LinterRun, RepoFacts, Script, ScriptKind, Step, Workflow

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ten times faster


class _LineLoader(_Base):  # type: ignore[misc]
    """SafeLoader that keeps lines: `__line__` per mapping, `__keys__` = {key: first line of its value}."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    keys: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = value_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">"):
            line += 1  # a block scalar's text starts on the line after `|`
        keys[str(key_node.value)] = line
    mapping["__keys__"] = keys
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 reads the key `on:` as the boolean True; workflows mean the string.
_LineLoader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# Actions whose inputs are shell scripts run on the target: (input, kind, input that turns on `set -e`).
_ACTION_SCRIPTS: dict[str, list[tuple[str, ScriptKind, str]]] = {
    "appleboy/ssh-action": [("script", "ssh-action", "script_stop")],
    "garygrossgarten/github-action-ssh": [("command", "ssh-action", "")],
    "easingthemes/ssh-deploy": [("script_before", "action-script", ""), ("script_after", "action-script", "")],
    "fifsky/ssh-action": [("command", "ssh-action", "")],
}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in ("__line__", "__keys__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(_clean(value), sort_keys=True)
    return str(value)


def _shell_flags(shell: str | None, windows: bool) -> tuple[bool, bool, bool]:
    """(is a POSIX shell, errexit, pipefail) for a step's `shell:` as GitHub runs it."""
    if shell is None:
        return (not windows, True, False)  # `bash -e {0}` on Linux and macOS
    name = shell.split()[0].rsplit("/", 1)[-1] if shell.split() else ""
    if shell == "bash":
        return (True, True, True)  # `bash --noprofile --norc -eo pipefail {0}`
    if shell == "sh":
        return (True, True, False)
    if name not in ("bash", "sh", "dash", "zsh"):
        return (False, False, False)
    words = shell.split()
    flags = "".join(w[1:] for w in words[1:] if w.startswith("-") and not w.startswith("--"))
    return (True, "e" in flags, "pipefail" in words)


def _action_scripts(step: dict[str, Any], action: str) -> tuple[Script, ...]:
    inputs = step.get("with") if isinstance(step.get("with"), dict) else {}
    assert isinstance(inputs, dict)
    lines = inputs.get("__keys__", {})
    out = []
    for key, kind, stop_key in _ACTION_SCRIPTS.get(action, []):
        text = inputs.get(key)
        if not isinstance(text, str):
            continue
        errexit = bool(stop_key) and str(inputs.get(stop_key, "")).lower() == "true"
        script = parse_script(text, int(lines.get(key, step.get("__line__", 0))), kind, errexit=errexit)
        out.append(replace(script, host=_text(inputs.get("host"))))
    return tuple(out)


def _steps(job_id: str, job: dict[str, Any], default_shell: str | None, windows: bool) -> tuple[Step, ...]:
    out = []
    raw_steps = job.get("steps")
    for index, step in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        if not isinstance(step, dict):
            continue
        keys = step.get("__keys__", {})
        uses = step.get("uses") if isinstance(step.get("uses"), str) else None
        action = (uses or "").split("@")[0].lower()
        run = step.get("run")
        script = None
        if isinstance(run, str):
            shell = _text(step.get("shell")) or default_shell
            posix, errexit, pipefail = _shell_flags(shell, windows)
            if posix:
                script = parse_script(run, int(keys.get("run", step["__line__"])), errexit=errexit, pipefail=pipefail)
        raw_with = step.get("with") if isinstance(step.get("with"), dict) else {}
        assert isinstance(raw_with, dict)
        with_lines = raw_with.get("__keys__", {})
        raw_env = step.get("env") if isinstance(step.get("env"), dict) else {}
        assert isinstance(raw_env, dict)
        out.append(
            Step(
                index=index,
                job=job_id,
                line=int(step["__line__"]),
                name=str(step.get("name") or ""),
                id=_text(step.get("id")),
                if_=_text(step.get("if")),
                uses=uses,
                with_={str(k): _text(v) or "" for k, v in _clean(raw_with).items()},
                with_lines={str(k): int(v) for k, v in with_lines.items()},
                env={str(k): _text(v) or "" for k, v in _clean(raw_env).items()},
                continue_on_error=_text(step.get("continue-on-error")),
                script=script,
                action_scripts=_action_scripts(step, action),
            )
        )
    return tuple(out)


def _concurrency(value: Any) -> tuple[str | None, bool]:
    if isinstance(value, dict):
        return _text(value.get("group")), str(value.get("cancel-in-progress", "")).lower() == "true"
    return _text(value), False


def _jobs(data: dict[str, Any]) -> tuple[Job, ...]:
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, dict):
        return ()
    wf_defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    assert isinstance(wf_defaults, dict)
    wf_shell = _text((wf_defaults.get("run") or {}).get("shell")) if isinstance(wf_defaults.get("run"), dict) else None
    wf_group, wf_cancel = _concurrency(data.get("concurrency"))
    jobs = []
    for job_id, job in raw_jobs.items():
        if job_id in ("__line__", "__keys__") or not isinstance(job, dict):
            continue
        defaults = job.get("defaults") if isinstance(job.get("defaults"), dict) else {}
        assert isinstance(defaults, dict)
        run_defaults = defaults.get("run") if isinstance(defaults.get("run"), dict) else {}
        assert isinstance(run_defaults, dict)
        shell = _text(run_defaults.get("shell")) or wf_shell
        windows = "windows" in str(_clean(job.get("runs-on", ""))).lower()
        needs = job.get("needs")
        env = job.get("environment")
        group, cancel = _concurrency(job.get("concurrency")) if "concurrency" in job else (wf_group, wf_cancel)
        jobs.append(
            Job(
                id=str(job_id),
                line=int(job["__line__"]),
                name=str(job.get("name") or ""),
                if_=_text(job.get("if")),
                needs=tuple(
                    str(n) for n in ([needs] if isinstance(needs, str) else needs if isinstance(needs, list) else [])
                ),
                environment=_text(env.get("name") if isinstance(env, dict) else env),
                concurrency=group,
                cancel_in_progress=cancel,
                uses=_text(job.get("uses")),
                steps=_steps(str(job_id), job, shell, windows),
                continue_on_error=_text(job.get("continue-on-error")),
            )
        )
    return tuple(jobs)


def _triggers(data: dict[str, Any]) -> dict[str, Any]:
    raw = data.get("on", {})
    if isinstance(raw, str):
        return {raw: {}}
    if isinstance(raw, list):
        return {str(t): {} for t in raw}
    cleaned: dict[str, Any] = _clean(raw) if isinstance(raw, dict) else {}
    return cleaned


def parse_workflow(rel: str, text: str) -> Workflow:
    """One workflow file's facts; a file that cannot be read gets `error`, one sentence."""
    lines = tuple(text.splitlines())
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return Workflow(rel, rel, error=f"{rel} is not valid YAML: {problem}{where}", lines=lines)
    if data is None:
        return Workflow(rel, rel, error=f"{rel} has no workflow in it: the file is empty or all comments", lines=lines)
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("str", "text").replace("list", "list")
        return Workflow(rel, rel, error=f"{rel} is a YAML {kind}, not a mapping with `on:` and `jobs:`", lines=lines)
    keys = data.get("__keys__", {})
    error = None if isinstance(data.get("jobs"), dict) else f"{rel} has no `jobs:` mapping, so it runs nothing"
    return Workflow(
        rel=rel,
        name=str(data.get("name") or rel),
        triggers=_triggers(data),
        trigger_line=int(keys.get("on", 0)),
        jobs=_jobs(data),
        error=error,
        lines=lines,
    )


def workflow_files(repo: Path) -> list[Path]:
    folder = repo / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []


def load_workflows(repo: Path) -> list[Workflow]:
    out = []
    for path in workflow_files(repo):
        rel = path.relative_to(repo).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.append(Workflow(rel, rel, error=f"{rel} cannot be read: {exc.__class__.__name__}"))
            continue
        try:
            out.append(parse_workflow(rel, text))
        except Exception as exc:  # a file of a shape nobody foresaw: one sentence, never a traceback
            out.append(Workflow(rel, rel, error=f"{rel} could not be read ({exc.__class__.__name__}: {exc})"[:300]))
    return out


def gather_repo(repo: Path, linters: bool = True) -> RepoFacts:
    workflows = load_workflows(repo)
    runs: tuple[LinterRun, ...] = ()
    if linters and workflows:
        runs = (run_actionlint(repo), run_zizmor(repo))
    return RepoFacts(tuple(workflows), runs)


def find_tool(name: str) -> str | None:
    """On PATH, or installed beside this Python (the `audit` extra in a virtualenv)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def run_actionlint(repo: Path) -> LinterRun:
    exe = find_tool("actionlint")
    if exe is None:
        return LinterRun("actionlint", False)
    files = [p.relative_to(repo).as_posix() for p in workflow_files(repo)]
    proc = subprocess.run(
        [exe, "-no-color", "-format", "{{json .}}", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
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
