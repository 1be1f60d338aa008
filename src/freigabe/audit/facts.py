"""Facts the repository checks judge: workflows, jobs, steps and their *parsed* scripts.

The adapter (`freigabe.adapters.workflows` with `freigabe.adapters.shell_parse`) builds
these from files; the checks in `freigabe.audit.checks` are pure functions of them. So a
check is tested on a few lines of YAML or shell, never on a deployed project, and the
layer rule holds: nothing here imports an adapter or does I/O.

Shell scripts are kept as a flat list of commands in document order, each carrying the
bits of its syntactic context the checks ask about (is it captured into a variable, is it
the left side of `||` and what runs then, is it an `if` condition, which loops enclose
it). That is what a reviewer reads off a script; a full tree would make every check
walk it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ScriptKind = Literal["run", "ssh", "ssh-heredoc", "bash-c", "ssh-action", "action-script"]


@dataclass(frozen=True)
class Redirect:
    op: str  # ">", ">>", "2>", "&>", "<" …
    target: str


@dataclass(frozen=True)
class Cmd:
    """One simple command, `[ … ]`/`[[ … ]]` test, or `case` of a script."""

    index: int  # document order within its script
    words: tuple[str, ...]  # argv with quotes removed; expansions and `${{ }}` kept as written
    line: int  # file line where the command starts
    text: str  # its source text (first line, for excerpts)
    kind: Literal["simple", "test", "case"] = "simple"
    vars: frozenset[str] = frozenset()  # shell variables it expands ($X, ${X…})
    capture: str | None = None  # X when it runs inside `X=$(…)` (innermost)
    capture_masked: bool = False  # … and the assignment is `local/export X=$(…)`, which hides its status
    in_subst: bool = False  # inside some `$(…)`
    pipe_pos: int = 0
    pipe_len: int = 1
    condition: bool = False  # in the condition of an if/elif/while/until
    condition_fail_exits: bool = False  # … and when it fails, the branch taken exits non-zero
    negated: bool = False  # `! cmd`
    and_left: bool = False  # left side of `&&`: a failure skips the rest instead of stopping
    fallback: tuple[tuple[str, ...], ...] | None = None  # commands after `||` when this is on its left
    loops: tuple[int, ...] = ()  # ids of enclosing loops (see Script.loops)
    group: int = -1  # id of the outermost list/condition it belongs to (tests that are read together)
    top: int = 0  # index of the top-level statement containing it
    items: tuple[tuple[tuple[str, ...], bool], ...] = ()  # case: (patterns, body exits non-zero)
    redirects: tuple[Redirect, ...] = ()
    heredoc: str | None = None

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""

    def has_flag(self, short: str = "", long: str = "") -> bool:
        """`-x`, a cluster like `-sfx`, or `--long` (also `--long=value`) among the options."""
        for word in self.words[1:]:
            if long and (word == long or word.startswith(long + "=")):
                return True
            if short and word.startswith("-") and not word.startswith("--") and short in word[1:]:
                return True
        return False


@dataclass(frozen=True)
class Assign:
    name: str
    index: int  # order among the script's commands: the assignment happens before commands[index]
    line: int
    value: str  # as written
    masked: bool = False  # local/export/declare: the substitution's exit status is lost


@dataclass(frozen=True)
class Loop:
    id: int
    kind: str  # for, while, until
    line: int
    has_sleep: bool


@dataclass(frozen=True)
class Script:
    """A shell script: a `run:` block or one that runs elsewhere (ssh, heredoc, an action's input)."""

    kind: ScriptKind
    text: str  # as written, with `${{ }}` in place
    line: int  # file line of its first line
    commands: tuple[Cmd, ...] = ()
    assigns: tuple[Assign, ...] = ()
    loops: tuple[Loop, ...] = ()
    errexit: bool = False  # `-e` from the shell's invocation
    pipefail: bool = False
    errexit_at: int | None = None  # command index from which `set -e` holds (0 when from the start)
    children: tuple[Script, ...] = ()  # scripts it runs elsewhere (ssh host '…', bash -c '…')
    carrier: int = -1  # index in the parent of the command that runs this one
    host: str | None = None  # for ssh: the host word
    error: str | None = None  # what the parser could not read

    def errexit_for(self, index: int) -> bool:
        return self.errexit_at is not None and index >= self.errexit_at


@dataclass(frozen=True)
class Step:
    index: int
    job: str
    line: int
    name: str = ""
    id: str | None = None
    if_: str | None = None
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    with_lines: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    continue_on_error: str | None = None  # as written ("true", an expression) or None
    script: Script | None = None  # the `run:` script, parsed (None for actions and non-shell run steps)
    action_scripts: tuple[Script, ...] = ()  # scripts an action runs remotely (ssh-action `script:`)

    @property
    def label(self) -> str:
        return self.name or self.id or (self.uses or "run")

    @property
    def action(self) -> str:
        """`owner/name` of `uses:` without the ref, lower-cased ("" for run steps)."""
        return (self.uses or "").split("@")[0].lower()

    def scripts(self) -> list[Script]:
        """Every script of the step, nested ones after their parent."""
        out: list[Script] = []

        def walk(script: Script) -> None:
            out.append(script)
            for child in script.children:
                walk(child)

        for top in ([self.script] if self.script else []) + list(self.action_scripts):
            walk(top)
        return out


@dataclass(frozen=True)
class Job:
    id: str
    line: int
    name: str = ""
    if_: str | None = None
    needs: tuple[str, ...] = ()
    environment: str | None = None
    concurrency: str | None = None  # the group as written (job's or the workflow's)
    cancel_in_progress: bool = False
    uses: str | None = None  # a reusable workflow call
    steps: tuple[Step, ...] = ()
    continue_on_error: str | None = None


@dataclass(frozen=True)
class Workflow:
    rel: str  # .github/workflows/deploy.yml
    name: str
    triggers: dict[str, Any] = field(default_factory=dict)
    trigger_line: int = 0
    jobs: tuple[Job, ...] = ()
    error: str | None = None  # why it could not be read (one sentence)
    lines: tuple[str, ...] = ()  # the file's lines, for excerpts

    @property
    def file(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def job(self, job_id: str) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def excerpt(self, line: int) -> str:
        return self.lines[line - 1].strip()[:200] if 0 < line <= len(self.lines) else ""


@dataclass(frozen=True)
class LinterRun:
    """What an external linter (actionlint, zizmor) said, as data."""

    tool: str
    installed: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class RepoFacts:
    workflows: tuple[Workflow, ...] = ()
    linters: tuple[LinterRun, ...] = ()
