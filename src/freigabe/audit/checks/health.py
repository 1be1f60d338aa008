"""`workflow.health-check-cannot-fail`: a health check is a request to a health URL whose
result decides the job. This check lists the ways a real one cannot fail.

Copying `healthcheck.php` is no request; a test that an endpoint *refuses* a request without
token (expects 401) is not "401 accepted"; `|| true` inside a captured status code that is
tested afterwards does not stop the test from failing.
"""

from __future__ import annotations

from freigabe.audit.checks.common import (
    REMOTE_KINDS,
    Occ,
    basename,
    excerpt,
    first_deploy,
    is_health_request,
    row,
    strip_wrappers,
    timeline,
)
from freigabe.audit.facts import Cmd, Script, Workflow
from freigabe.core.findings import Finding

_QUIET = {"true", ":", "echo", "printf"}
_CHECKERS = {"grep", "test", "[", "jq"}
_SUCCESS_CODES = {"200", "204", "2[0-9][0-9]", "2??", "2*", "20?"}


def _fails(words: tuple[str, ...]) -> bool:
    return bool(words) and (words[0] == "false" or (words[0] in ("exit", "return") and words[1:2] not in ((), ("0",))))


def _tests_of(script: Script, var: str, after: int) -> list[Cmd]:
    return [
        c
        for c in script.commands
        if c.index > after
        and var in c.vars
        and (c.kind in ("test", "case") or basename(c.name) in ("test", "grep", "jq") or c.condition)
    ]


def _decides(script: Script, test: Cmd) -> bool:
    """Does a failed test of the captured result fail the script?"""
    if test.kind == "case":
        return any(exits for _, exits in test.items)
    if test.condition:
        return test.condition_fail_exits or bool(test.loops)
    if test.fallback is not None:
        return any(_fails(w) for w in test.fallback)
    if test.and_left:
        # `[ "$code" != 200 ] && exit 1`: the command after && is the failing path
        return any(c.index > test.index and c.group == test.group and _fails(c.words) for c in script.commands)
    return script.errexit_for(test.index)


def _accepts_401(script: Script, tests: list[Cmd]) -> Cmd | None:
    for test in tests:
        if test.kind == "case":
            for patterns, exits in test.items:
                flat = " ".join(patterns)
                if "401" in flat and not exits:
                    return test
            continue
        if not any("401" in w for w in test.words):
            continue
        if any("401" in w and "|" in w and "200" in w for w in test.words):
            return test
        group = [c for c in script.commands if c.group == test.group and c.group >= 0]
        if any(w in _SUCCESS_CODES or w.startswith("20") for c in group for w in c.words if c is not test):
            return test
    return None


def _last_statement(script: Script, cmd: Cmd) -> bool:
    tops = [c.top for c in script.commands if not c.in_subst]
    return bool(tops) and cmd.top == max(tops)


def request_problems(occ: Occ) -> list[tuple[str, Cmd]]:
    """Why this health request cannot fail the job (empty: it can)."""
    cmd, script = occ.cmd, occ.script
    words = strip_wrappers(cmd)
    tool = basename(words[0]) if words else ""
    problems: list[tuple[str, Cmd]] = []
    tested: list[Cmd] = _tests_of(script, cmd.capture, cmd.index) if cmd.capture else []
    quiet = [w for w in cmd.fallback or () if w and basename(w[0]) in _QUIET]
    fails = any(_fails(w) for w in cmd.fallback or ())
    healthy_fallback = any("healthy" in " ".join(w).lower() for w in cmd.fallback or ())
    if healthy_fallback and not fails:
        problems.append(("a fallback prints 'healthy' when the check fails", cmd))
    elif cmd.fallback is not None and not fails and not tested:
        if quiet and all(basename(w[0]) in ("true", ":") for w in quiet):
            problems.append(("`|| true` makes the check pass whatever happens", cmd))
        else:
            shown = " ".join(cmd.fallback[0]) if cmd.fallback else ""
            problems.append((f"a fallback (`|| {shown}`) runs instead of failing", cmd))
    if tested and not any(_decides(script, t) for t in tested):
        checker = next((t for t in tested if t.kind != "simple" or basename(t.name) in _CHECKERS), tested[0])
        problems.append(("the result is tested, but a failed test only prints", checker))
    accepted = _accepts_401(script, tested)
    if accepted is not None:
        problems.append(("HTTP 401 is accepted as healthy", accepted))
    status_checked = bool(tested) or (
        cmd.pipe_pos < cmd.pipe_len - 1
        and any(
            basename(c.name) in _CHECKERS
            for c in script.commands
            if c.index > cmd.index and c.pipe_pos == cmd.pipe_len - 1 and c.top == cmd.top
        )
    )
    fail_flag = cmd.has_flag("f", "--fail") or cmd.has_flag("", "--fail-with-body")
    if tool == "curl" and not fail_flag and not status_checked:
        problems.append(("curl without --fail exits 0 on HTTP 500", cmd))
    if tool in ("http", "https") and not cmd.has_flag("", "--check-status") and not status_checked:
        problems.append(("httpie without --check-status exits 0 on HTTP 500", cmd))
    if cmd.condition and not cmd.condition_fail_exits and not cmd.loops and not tested:
        problems.append(("a failed request only skips the `if` branch", cmd))
    decided_later = tested or cmd.condition or cmd.loops or cmd.fallback is not None
    if (
        script.kind in REMOTE_KINDS
        and not script.errexit_for(cmd.index)
        and not decided_later
        and not _last_statement(script, cmd)
    ):
        problems.append(("the remote script has no `set -e` and the request is not its last command", cmd))
    if cmd.and_left and not cmd.loops and not decided_later and not _last_statement(script, cmd):
        problems.append(("`request && …` mid-script: a failure skips the rest of the line and the script goes on", cmd))
    switch = (occ.step.continue_on_error or "").lower()
    if switch == "true" or (occ.job.continue_on_error or "").lower() == "true":
        problems.append(("`continue-on-error: true` lets the job pass when the check fails", cmd))
    return problems


def _ledger_passes(occs: list[Occ]) -> list[Cmd]:
    out = []
    for occ in occs:
        cmd = occ.cmd
        targets = [r.target for r in cmd.redirects] + (list(cmd.words[1:]) if basename(cmd.name) == "tee" else [])
        if not any("ledger" in t.lower() for t in targets):
            continue
        literal = [w for w in cmd.words[1:] if "passed" in w]
        if literal and not any("$" in w.split("passed")[0][-40:] for w in literal):
            out.append(cmd)
    return out


def check_health_cannot_fail(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        occs = [occ for job in wf.jobs for occ in timeline(job)]
        starts = {job.id: first_deploy(job) for job in wf.jobs}
        # a request before the job deploys is a pre-flight look, not the check that decides the deploy
        requests = [
            occ
            for occ in occs
            if is_health_request(occ) and (starts[occ.job.id] is None or occ.key >= starts[occ.job.id])  # type: ignore[operator]
        ]
        ledger = _ledger_passes(occs)
        if not requests and not ledger:
            continue
        problems: list[dict[str, str | int]] = [
            {"what": what, "location": f"{wf.rel}:{where.line}", "line": where.line, "excerpt": excerpt(where)}
            for occ in requests
            for what, where in request_problems(occ)
        ]
        problems += [
            {
                "what": "the ledger records 'passed' without a check's result",
                "location": f"{wf.rel}:{c.line}",
                "line": c.line,
                "excerpt": excerpt(c),
            }
            for c in ledger
        ]
        first = problems[0] if problems else None
        where = requests[0].cmd if requests else ledger[0]
        ist = (
            f"{first['what']} at {first['location']}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
            if first
            else (
                f"{len(requests)} health request(s), each able to fail the job; first at "
                f"{wf.rel}:{where.line} (`{excerpt(where)}`)"
            )
        )
        rows.append(
            row(
                "workflow.health-check-cannot-fail",
                wf,
                "Health checks can fail",
                soll="a health or smoke request fails the job when the app is unhealthy",
                ist=ist,
                impact="P1",
                ok=not problems,
                line=int(str(first["line"])) if first else where.line,
                text=str(first["excerpt"]) if first else excerpt(where),
                fix="use `curl --fail`, expect 200 only, drop `|| true` and fallbacks, record the real result",
                problems=problems,
                requests=[f"{wf.rel}:{o.line}" for o in requests],
            )
        )
    return rows
