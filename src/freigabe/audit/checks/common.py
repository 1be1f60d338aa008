"""What several checks read off the facts: the order commands run in, what a deploy is,
where the switch is, which requests are health checks. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from freigabe.audit.facts import Cmd, Job, Script, Step, Workflow
from freigabe.core.findings import Finding, Impact, finding

SERVED_LINKS = ("current",)  # the link that is served; freigabe's layout names it `current`
REMOTE_KINDS = ("ssh", "ssh-heredoc", "ssh-action", "action-script")


@dataclass(frozen=True)
class Occ:
    """One command where it runs: job, step, script; `key` orders a job's commands in time."""

    job: Job
    step: Step
    script: Script
    cmd: Cmd
    key: tuple[int, ...]

    @property
    def line(self) -> int:
        return self.cmd.line


def _script_occs(job: Job, step: Step, script: Script, prefix: tuple[int, ...]) -> Iterator[Occ]:
    children: dict[int, list[Script]] = {}
    for child in script.children:
        children.setdefault(child.carrier, []).append(child)
    for cmd in script.commands:
        key = (*prefix, cmd.index)
        yield Occ(job, step, script, cmd, key)
        for number, child in enumerate(children.get(cmd.index, [])):
            yield from _script_occs(job, step, child, (*key, number))


def timeline(job: Job) -> list[Occ]:
    """Every command of a job in the order it runs; a remote script's commands right after the
    command that starts it."""
    out: list[Occ] = []
    for step in job.steps:
        if step.script is not None:
            out.extend(_script_occs(job, step, step.script, (step.index, 0)))
        for number, script in enumerate(step.action_scripts, start=1):
            out.extend(_script_occs(job, step, script, (step.index, number)))
    return out


def job_order(wf: Workflow) -> list[Job]:
    """Jobs ordered so that each comes after the jobs it needs."""
    done: list[Job] = []
    seen: set[str] = set()

    def visit(job: Job, trail: frozenset[str]) -> None:
        if job.id in seen or job.id in trail:
            return
        for need in job.needs:
            other = wf.job(need)
            if other is not None:
                visit(other, trail | {job.id})
        seen.add(job.id)
        done.append(job)

    for job in wf.jobs:
        visit(job, frozenset())
    return done


def needs_closure(wf: Workflow, job: Job) -> set[str]:
    """The jobs this job waits for, directly or through others."""
    out: set[str] = set()
    stack = list(job.needs)
    while stack:
        need = stack.pop()
        if need in out:
            continue
        out.add(need)
        other = wf.job(need)
        if other is not None:
            stack.extend(other.needs)
    return out


def workflow_timeline(wf: Workflow) -> list[Occ]:
    return [occ for job in job_order(wf) for occ in timeline(job)]


def is_after(wf: Workflow, occ: Occ, mark: Occ) -> bool:
    """Does `occ` run after `mark` (later in the same job, or in a job that waits for it)?"""
    if occ.job.id == mark.job.id:
        return occ.key > mark.key
    return mark.job.id in needs_closure(wf, occ.job)


# ------------------------------------------------------------------------ reading commands


def basename(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1].strip("'\"")


def operands(cmd: Cmd) -> list[str]:
    """The words after the command name that are not options."""
    return [w for w in cmd.words[1:] if not w.startswith("-")]


def uses_var(word: str, name: str) -> bool:
    """Does a word expand shell variable `name` or the GitHub expression env/outputs `name`?"""
    return bool(re.search(rf"\$\{{?{re.escape(name)}\b", word)) or bool(
        re.search(rf"\$\{{\{{[^}}]*\b(env|outputs)\.{re.escape(name)}\b", word)
    )


def excerpt(cmd: Cmd) -> str:
    return cmd.text[:200]


def is_ssh_target(word: str) -> bool:
    """`user@host:path` / `host:path` (rsync, scp) — not a local path, not a URL."""
    if "://" in word or word.startswith(("/", ".", "-")):
        return False
    head = word.split(":", 1)[0] if ":" in word else ""
    return bool(head) and "=" not in head


def _named(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def strip_wrappers(cmd: Cmd) -> list[str]:
    """argv without `sudo …`, `env X=…`, `nohup`, `time`."""
    words = list(cmd.words)
    while words and _named(words[0]) in ("sudo", "env", "nohup", "time", "exec", "command"):
        prefix = words.pop(0)
        while words and (words[0].startswith("-") or (prefix == "env" and "=" in words[0])):
            flag = words.pop(0)
            if prefix == "sudo" and flag in ("-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U") and words:
                words.pop(0)
    return words


DEPLOY_ACTIONS = {
    "appleboy/ssh-action": "runs a script over ssh",
    "appleboy/scp-action": "copies files over ssh",
    "deployphp/action": "runs Deployer",
    "easingthemes/ssh-deploy": "rsyncs over ssh",
    "burnett01/rsync-deployments": "rsyncs over ssh",
    "garygrossgarten/github-action-ssh": "runs a command over ssh",
    "samkirkland/ftp-deploy-action": "uploads over FTP",
    "wlixcc/sftp-deploy-action": "uploads over SFTP",
    "up9cloud/action-rsync": "rsyncs over ssh",
    "fifsky/ssh-action": "runs a command over ssh",
    "atymic/deployer-php-action": "sets up Deployer",
    "azure/webapps-deploy": "deploys to Azure App Service",
}


def deploy_reason(occ: Occ) -> str | None:
    """Why this command deploys, or None: ssh/scp/rsync to a host, Deployer, a deploy hook, a switch."""
    words = resolved_words(occ)
    if words and _named(words[0]) == "php" and len(words) > 1:
        words = words[1:]  # `php vendor/bin/dep deploy`
    if not words:
        return None
    name = _named(words[0])
    if name == "ssh":
        remote = [c for c in occ.script.children if c.carrier == occ.cmd.index]
        if remote and any(changes_something(script) for script in remote):
            return "runs a script on a host over ssh"
    if name in ("scp", "rsync") and any(is_ssh_target(w) for w in words[1:]):
        return f"copies to a host with {name}"
    if name in ("dep", "deployer") and "deploy" in words[1:]:
        return f"runs Deployer (`{name} deploy`)"
    if name == "ansible-playbook":
        return "runs an Ansible playbook against hosts"
    if name in ("envoy", "cap") and any("deploy" in w for w in words[1:]):
        return f"runs `{name} … deploy`"
    if name in ("curl", "wget") and any(
        "deploy" in w.lower() and ("://" in w or "secrets." in w or w.startswith("$")) for w in words[1:]
    ):
        return "calls a deploy hook"
    if switch_of(occ) is not None:
        return "switches the served link"
    return None


def _resolve(word: str, env: dict[str, str]) -> str:
    """`${{ env.X }}` or `$X` → the step's `env:` value of X, when it is set there."""
    inner = word.removeprefix("${{").removesuffix("}}").strip() if word.startswith("${{") else ""
    name = inner.removeprefix("env.") if inner.startswith("env.") else word.lstrip("$").strip("{}")
    return env.get(name, word) if name else word


def resolved_words(occ: Occ) -> list[str]:
    """argv without wrappers, with `${{ env.X }}`/`$X` replaced by the step's `env:` value."""
    return [_resolve(w, occ.step.env) for w in strip_wrappers(occ.cmd)]


def first_deploy(job: Job) -> tuple[int, ...] | None:
    """The time key of the job's first deploying step or command (None: it deploys nothing)."""
    if disabled(job):
        return None
    for occ in timeline(job):
        step_first = DEPLOY_ACTIONS.get(occ.step.action)
        if deploy_reason(occ):
            return occ.key
        if step_first:
            return (occ.step.index,)
    return next(((s.index,) for s in job.steps if s.action in DEPLOY_ACTIONS), None)


def disabled(job: Job) -> bool:
    """`if: false` (or `${{ false }}`): the job never runs."""
    condition = (job.if_ or "").replace("${{", "").replace("}}", "").strip().lower()
    return condition == "false"


_READ_ONLY = {
    "echo",
    "printf",
    "cat",
    "ls",
    "tail",
    "head",
    "grep",
    "pwd",
    "whoami",
    "hostname",
    "id",
    "df",
    "du",
    "uptime",
    "date",
    "test",
    "[",
    "true",
    "false",
    "exit",
    "stat",
    "readlink",
    "wc",
    "ps",
    "free",
    "uname",
    "which",
    "type",
    "sleep",
    "journalctl",
    "nproc",
    "lsb_release",
    "curl",
    "wget",
    "cd",
    "set",
}


def changes_something(script: Script) -> bool:
    """Does a (remote) script change anything, or does it only look (read logs, test ssh)?"""
    for cmd in script.commands:
        words = strip_wrappers(cmd)
        if cmd.kind != "simple" or not words:
            continue
        tool = _named(words[0])
        if tool == "systemctl" and words[1:2] and words[1] in ("status", "is-active", "is-enabled", "show"):
            continue
        if tool not in _READ_ONLY or any(r.op.endswith(">") and r.target != "/dev/null" for r in cmd.redirects):
            return True
    return any(changes_something(child) for child in script.children)


def deploy_evidence(job: Job) -> tuple[str, int] | None:
    if disabled(job):
        return None
    for step in job.steps:
        reason = DEPLOY_ACTIONS.get(step.action)
        if reason:
            return f"`{step.uses}` {reason}", step.line
    for occ in timeline(job):
        reason = deploy_reason(occ)
        if reason:
            return reason, occ.line
    return None


def deploy_jobs(wf: Workflow) -> list[tuple[Job, str, int]]:
    out = []
    for job in wf.jobs:
        found = deploy_evidence(job)
        if found:
            out.append((job, found[0], found[1]))
    return out


# ------------------------------------------------------------------------ the switch


def _variable(word: str) -> str | None:
    """NAME when the word is exactly `$NAME` or `${NAME}`."""
    inner = word[2:-1] if word.startswith("${") and word.endswith("}") else word[1:] if word.startswith("$") else ""
    return inner if inner.isidentifier() else None


def values_at(occ: Occ) -> dict[str, str]:
    """What the script's own variables hold when this command runs (the step's `env:` below them)."""
    values = dict(occ.step.env)
    for assign in occ.script.assigns:
        if assign.index <= occ.cmd.index:
            values[assign.name] = assign.value
    return values


def switch_target(cmd: Cmd, names: Sequence[str] = SERVED_LINKS, values: dict[str, str] | None = None) -> str | None:
    """The served link this command replaces, if it is a switch.

    `ln -s… X current` (the link named like the served one), `mv -T[f] tmp current`, also
    through a variable (`CURRENT_LINK=/srv/current; mv -Tf "$TMP" "$CURRENT_LINK"`); a plain
    `ln -s X current.tmp` only prepares one."""
    words = strip_wrappers(cmd)
    if not words:
        return None
    name = _named(words[0])
    args = [w for w in words[1:] if not w.startswith("-")]
    if len(args) < 2:
        return None
    target = args[-1]
    variable = _variable(target)
    if variable is not None and values and variable in values:
        target = values[variable]
    symbolic = "--symbolic" in words or any(w.startswith("-") and not w.startswith("--") and "s" in w for w in words)
    if name == "ln" and symbolic and basename(target) in names:
        return target
    if name == "mv" and basename(target) in names:
        return target
    return None


def switch_of(occ: Occ, names: Sequence[str] = SERVED_LINKS) -> str | None:
    return switch_target(occ.cmd, names, values_at(occ))


def switches(wf: Workflow, names: Sequence[str] = SERVED_LINKS) -> list[Occ]:
    return [occ for occ in workflow_timeline(wf) if switch_of(occ, names) is not None]


# ------------------------------------------------------------------------ requests

_HEALTH_URL = re.compile(r"health|healthz|/up\b|/ready|readiness|/alive|liveness|/ping|/status", re.IGNORECASE)
_HEALTH_NAME = re.compile(r"health|smoke", re.IGNORECASE)
REQUEST_TOOLS = ("curl", "wget", "http", "https")


def request_url(cmd: Cmd) -> str | None:
    words = strip_wrappers(cmd)
    if not words or _named(words[0]) not in REQUEST_TOOLS:
        return None
    for word in words[1:]:
        if "://" in word or (word.startswith("$") and not word.startswith("$(")) or word.startswith("${{"):
            return word
    return None


def is_health_request(occ: Occ) -> bool:
    """A request to a URL named like a health endpoint, or made by a step named like a health check."""
    url = request_url(occ.cmd)
    if url is None:
        return False
    words = strip_wrappers(occ.cmd)
    if "-X" in words and any(w in ("POST", "PUT", "DELETE") for w in words):
        return False
    named_url = bool(_HEALTH_URL.search(url)) or any(_HEALTH_NAME.search(v) for v in occ.cmd.vars)
    return named_url or bool(_HEALTH_NAME.search(occ.step.label))


HEALTH_ACTIONS = ("jtalk/url-health-check-action", "lakuapik/gh-actions-http-status")


def php_app(wf: Workflow) -> bool:
    """Does the workflow deploy PHP (artisan, composer, php, setup-php, Deployer)?"""
    for job in wf.jobs:
        for step in job.steps:
            if step.action in ("shivammathur/setup-php", "deployphp/action"):
                return True
        for occ in timeline(job):
            words = strip_wrappers(occ.cmd)
            if words and (_named(words[0]) in ("php", "composer", "artisan") or "artisan" in words[:3]):
                return True
    return False


# ------------------------------------------------------------------------ rows


def loc(wf: Workflow, line: int) -> str:
    return f"{wf.rel}:{line}"


def evidence(wf: Workflow, line: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"excerpt": text if text is not None else wf.excerpt(line), "line": line, **extra}


def row(
    check: str,
    wf: Workflow,
    title: str,
    *,
    subject: str | None = None,
    soll: str,
    ist: str,
    impact: Impact,
    ok: bool,
    line: int,
    text: str | None = None,
    fix: str = "",
    warn: bool = False,
    **extra: Any,
) -> Finding:
    """A finding about one place of one workflow, with the excerpt it judged."""
    return finding(
        check,
        "repo",
        f"{title} ({wf.file})",
        subject=subject if subject is not None else wf.file,
        soll=soll,
        ist=ist,
        impact=impact,
        ok=ok,
        fix=fix,
        status="warn" if warn and not ok else None,
        location=loc(wf, line) if line else wf.rel,
        evidence=evidence(wf, line, text, **extra),
    )
