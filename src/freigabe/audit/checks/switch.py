"""`workflow.hardening`: what a deploy does around its switch.

The switch is the command that changes the served link (`current`): `ln -sfn`, `ln -s` +
`mv -T`, `rm` + `ln`, in a `run:` script or in one that runs on the host. "After the switch"
means after *that* command (later in its script, in later steps, in jobs that need it).
Rows: post-switch cache clear and PHP-FPM reload (PHP apps only), a health request after the
switch, grace and retry around it (advice, P2), and what the rollback does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from freigabe.audit.checks.common import (
    HEALTH_ACTIONS,
    SERVED_LINKS,
    Occ,
    basename,
    excerpt,
    is_after,
    is_health_request,
    php_app,
    row,
    strip_wrappers,
    switch_of,
    switches,
    timeline,
    uses_var,
    workflow_timeline,
)
from freigabe.audit.facts import Cmd, Job, Step, Workflow
from freigabe.core.findings import Finding, Impact

_CACHE = {"optimize:clear", "config:clear", "cache:clear", "route:clear", "view:clear", "optimize", "config:cache"}
_BUILD_CACHE = {"config:cache", "optimize", "route:cache", "view:cache"}
_QUIET = {"true", ":"}


def _artisan(cmd: Cmd) -> str | None:
    words = strip_wrappers(cmd)
    for i, word in enumerate(words[:-1]):
        if basename(word) == "artisan":
            return words[i + 1]
    return None


def _is_fpm_reload(cmd: Cmd) -> bool:
    words = [w.lower() for w in strip_wrappers(cmd)]
    if not words:
        return False
    tool = basename(words[0])
    joined = " ".join(words)
    fpm = "fpm" in joined
    if tool in ("systemctl", "service", "rc-service") or (tool.startswith("php") and "fpm" in tool):
        return fpm and any(w in ("reload", "restart", "force-reload") for w in words)
    if tool == "kill" and any(w in ("-usr2", "-sigusr2", "-s") for w in words):
        return True
    if tool == "cachetool" and any(w.startswith("opcache:reset") for w in words):
        return True
    return "opcache_reset" in joined


def _silenced(cmd: Cmd) -> bool:
    fallback = cmd.fallback or ()
    return bool(fallback) and not any(w[:1] in (("exit",), ("false",)) for w in fallback)


def _hardening(
    wf: Workflow, aspect: str, title: str, soll: str, ok: bool, ist: str, fix: str, line: int, impact: Impact
) -> Finding:
    return row(
        "workflow.hardening",
        wf,
        title,
        subject=f"{wf.file}#{aspect}",
        soll=soll,
        ist=ist,
        impact=impact,
        ok=ok,
        fix=fix,
        line=line,
    )


def _retried(occ: Occ) -> str | None:
    cmd = occ.cmd
    if cmd.has_flag("", "--retry") or cmd.has_flag("", "--tries") or cmd.has_flag("t", ""):
        return "retried by the tool's own option"
    loops = [lp for lp in occ.script.loops if lp.id in cmd.loops]
    if loops:
        return f"polled in a {loops[-1].kind} loop (line {loops[-1].line})" + (
            " with sleep" if loops[-1].has_sleep else ""
        )
    return None


def _health_after(wf: Workflow, switch: Occ) -> tuple[list[Occ], list[Step]]:
    occs = [o for o in workflow_timeline(wf) if is_health_request(o) and is_after(wf, o, switch)]
    actions = [
        s
        for job in wf.jobs
        for s in job.steps
        if s.action in HEALTH_ACTIONS
        and (
            (job.id == switch.job.id and s.index > switch.step.index)
            or (job.id != switch.job.id and switch.job.id in job.needs)
        )
    ]
    return occs, actions


def check_hardening(workflows: list[Workflow], names: Sequence[str] = SERVED_LINKS) -> list[Finding]:
    rows: list[Finding] = []
    for wf in workflows:
        found = [s for s in switches(wf, names) if s.step.if_ is None or "failure()" not in s.step.if_]
        if not found:
            continue  # no shell switch (Deployer, freigabe itself, containers …)
        switch = found[0]
        where = f"{wf.rel}:{switch.line}"
        after = [o for o in workflow_timeline(wf) if is_after(wf, o, switch)]
        before = [o for o in timeline(switch.job) if o.key < switch.key]
        if php_app(wf):
            clear = next((o for o in after if (_artisan(o.cmd) or "") in _CACHE), None)
            built = next((o for o in before if (_artisan(o.cmd) or "") in _BUILD_CACHE), None)
            rows.append(
                _hardening(
                    wf,
                    "post-switch-cache-clear",
                    "Post-switch cache clear",
                    "Laravel caches cleared (or built in the new release) around the switch",
                    clear is not None or built is not None,
                    f"`{excerpt(clear.cmd)}` at {wf.rel}:{clear.line}, after the switch at {where}"
                    if clear
                    else f"caches built in the new release before the switch: `{excerpt(built.cmd)}` at "
                    f"{wf.rel}:{built.line}"
                    if built
                    else f"no cache clear after the switch at {where}",
                    "run `php artisan optimize:clear` (or the cache commands) after switching",
                    clear.line if clear else built.line if built else switch.line,
                    "P1",
                )
            )
            reloads = [o for o in after if _is_fpm_reload(o.cmd)]
            good = [o for o in reloads if not _silenced(o.cmd)]
            reload = (good or reloads)[0] if reloads else None
            rows.append(
                _hardening(
                    wf,
                    "php-fpm-reload",
                    "PHP-FPM OPcache reload",
                    "PHP-FPM reloaded after the switch, failures visible",
                    bool(good),
                    (
                        f"reload at {wf.rel}:{reload.line}, not silenced"
                        if good
                        else f"reload at {wf.rel}:{reload.line} is silenced (`|| …`): a failed reload goes unnoticed"
                    )
                    if reload
                    else f"no PHP-FPM reload after the switch at {where}: OPcache keeps serving the old code",
                    "reload with `sudo -n service php8.x-fpm reload` (or `kill -USR2`) and let failures fail",
                    reload.line if reload else switch.line,
                    "P1",
                )
            )
        health, actions = _health_after(wf, switch)
        first = health[0] if health else None
        rows.append(
            _hardening(
                wf,
                "health-after-switch",
                "Health check after the switch",
                "a health request after the switch decides the job",
                bool(health or actions),
                f"`{excerpt(first.cmd)}` at {wf.rel}:{first.line}, after the switch at {where}"
                if first
                else f"`{actions[0].uses}` at {wf.rel}:{actions[0].line}"
                if actions
                else f"nothing checks the new release after the switch at {where}",
                "request the health URL after the switch with `curl --fail` and fail the job",
                first.line if first else actions[0].line if actions else switch.line,
                "P1",
            )
        )
        retried = [(o, _retried(o)) for o in health]
        retry = next(((o, how) for o, how in retried if how), None)
        action_retry = next((s for s in actions if any("attempt" in k or "retry" in k for k in s.with_)), None)
        rows.append(
            _hardening(
                wf,
                "health-retry",
                "Health check retry",
                "health checks retried (e.g. 6 × 5 s)",
                retry is not None or action_retry is not None,
                f"{retry[1]}: `{excerpt(retry[0].cmd)}` at {wf.rel}:{retry[0].line}"
                if retry
                else f"`{action_retry.uses}` retries (line {action_retry.line})"
                if action_retry
                else (
                    f"a single attempt decides: `{excerpt(first.cmd)}` at {wf.rel}:{first.line}"
                    if first
                    else "no health request to retry"
                ),
                "retry the health request in a bounded loop (or `curl --retry 6 --retry-delay 5 --retry-all-errors`)",
                retry[0].line if retry else first.line if first else switch.line,
                "P2",
            )
        )
        grace = _grace(wf, switch, health)
        rows.append(
            _hardening(
                wf,
                "grace-readiness",
                "Grace period / readiness",
                "wait until the new release answers (polling; a fixed sleep is only a floor)",
                grace is not None,
                grace[0]
                if grace
                else "health is checked immediately after the switch"
                if first
                else "no health request after the switch to wait for",
                "poll until the new release answers (a fixed sleep is only a floor)",
                grace[1] if grace else first.line if first else switch.line,
                "P2",
            )
        )
        rows.append(_rollback_row(wf, switch, names))
    return rows


def _grace(wf: Workflow, switch: Occ, health: list[Occ]) -> tuple[str, int] | None:
    for occ in health:
        loops = [lp for lp in occ.script.loops if lp.id in occ.cmd.loops]
        if loops and loops[-1].has_sleep:
            return f"polls with a wait: {loops[-1].kind} loop at {wf.rel}:{loops[-1].line}", loops[-1].line
        if occ.cmd.has_flag("", "--retry-delay") or occ.cmd.has_flag("", "--retry-connrefused"):
            return f"`{excerpt(occ.cmd)}` waits between attempts ({wf.rel}:{occ.line})", occ.line
    if health:
        first = health[0]
        sleeps = [
            o
            for o in workflow_timeline(wf)
            if basename(o.cmd.name) == "sleep" and is_after(wf, o, switch) and not is_after(wf, o, first)
        ]
        if sleeps:
            return f"a fixed `{excerpt(sleeps[-1].cmd)}` before the first request ({wf.rel}:{sleeps[-1].line})", sleeps[
                -1
            ].line
    return None


_BY_MTIME = re.compile(r"^-\w*t")


def _target_kind(wf: Workflow, job: Job, step: Step, rollback: Occ) -> str:
    """How the rollback picks the release it activates."""
    scripts = step.scripts()
    cmds = [c for s in scripts for c in s.commands]
    for cmd in cmds:
        words = strip_wrappers(cmd)
        tool = basename(words[0]) if words else ""
        if tool == "ls" and any(_BY_MTIME.match(w) for w in words[1:]):
            return "mtime"
        if tool in ("find", "stat") and any("%T" in w or "%Y" in w for w in words):
            return "mtime"
    recorded = _recorded_previous(wf, job)
    sources = [
        operands[0]
        for c in cmds
        if basename(c.name) in ("ln", "mv")
        for operands in [[w for w in strip_wrappers(c)[1:] if not w.startswith("-")]]
        if len(operands) >= 2
    ]
    if any(uses_var(src, name) for src in sources for name in recorded):
        return "recorded"
    if any(basename(c.name) in ("sort", "tail", "head") for c in cmds):
        return "name"
    return "unknown"


def _recorded_previous(wf: Workflow, job: Job) -> set[str]:
    """Variables that hold the release live before the deploy (`X=$(readlink current)`)."""
    names = set()
    for occ in timeline(job):
        words = strip_wrappers(occ.cmd)
        if words and basename(words[0]) == "readlink" and occ.cmd.capture:
            names.add(occ.cmd.capture)
        if occ.cmd.redirects and any(
            "GITHUB_ENV" in r.target or "GITHUB_OUTPUT" in r.target for r in occ.cmd.redirects
        ):
            for word in occ.cmd.words[1:]:
                if "=" in word and ("readlink" in word or any(f"${n}" in word for n in names)):
                    names.add(word.split("=", 1)[0])
    return names


def _rollbacks(wf: Workflow, switch: Occ, names: Sequence[str]) -> list[tuple[Job, Step, Occ | None]]:
    out: list[tuple[Job, Step, Occ | None]] = []
    for job in wf.jobs:
        job_failure = "failure()" in (job.if_ or "")
        for step in job.steps:
            on_failure = "failure()" in (step.if_ or "") or job_failure
            if not on_failure:
                continue
            occs = [o for o in timeline(job) if o.step.index == step.index]
            relink = next((o for o in occs if switch_of(o, names) is not None), None)
            if relink is not None or "rollback" in f"{step.label} {step.id or ''}".lower():
                out.append((job, step, relink))
    return out


def _rollback_row(wf: Workflow, switch: Occ, names: Sequence[str]) -> Finding:
    found = _rollbacks(wf, switch, names)
    soll = "a rollback that runs only when the switch happened, to the release recorded before it"
    fix = "guard with `if: failure() && steps.switch.outcome == 'success'` and record the previous release"
    if not found:
        return _hardening(
            wf,
            "rollback-after-switch",
            "Automatic rollback only after the switch",
            soll,
            False,
            f"no automatic rollback step: a failure after the switch at {wf.rel}:{switch.line} leaves the new "
            "release live",
            "add a rollback step guarded by the switch step's outcome",
            switch.line,
            "P2",
        )
    job, step, relink = found[0]
    condition = " ".join(c for c in (job.if_ if job.id != switch.job.id else None, step.if_) if c)
    guard_ids = [s for s in (switch.step.id,) if s]
    guarded = any(f"steps.{sid}.outcome" in condition or f"steps.{sid}.conclusion" in condition for sid in guard_ids)
    guarded = guarded or bool(re.search(r"switched|SWITCHED", condition))
    kind = _target_kind(wf, job, step, relink) if relink else "unknown"
    what = {
        "mtime": "picks its target by mtime (`ls -t`), not the release live before the deploy",
        "recorded": "activates the release recorded before the switch",
        "name": "picks the newest-but-one release by name, which is the previous one only if no other deploy ran",
        "unknown": "activates a release the workflow does not show how it picks",
    }[kind]
    if guarded:
        ist = f"runs only after the switch (`if: {condition}`); {what}"
    else:
        before = {
            "mtime": "activates whatever release is newest by mtime apart from the live one: the new, unverified "
            "release if it was already unpacked, else an older one",
            "recorded": "re-activates the recorded release, or fails if the failure came before it was recorded",
            "name": "activates the newest-but-one release, which can be older than the live one",
            "unknown": "switches to whatever it picks",
        }[kind]
        ist = (
            f"runs on any failure (`if: {condition}`), including before the switch at {wf.rel}:{switch.line}, "
            f"moving a good current to an older release; there it {before}"
        )
        if kind == "mtime":
            ist += "; it picks its target by mtime (`ls -t`), not the release live before the deploy"
    line = relink.line if relink else step.line
    return _hardening(
        wf,
        "rollback-after-switch",
        "Automatic rollback only after the switch",
        soll,
        guarded and kind in ("recorded", "name"),
        ist,
        fix,
        line,
        "P1",
    )
