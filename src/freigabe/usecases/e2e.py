"""`freigabe e2e ENV`: the reference plan's staging E2E (phases 1 to 5), run where the pipeline lives.

First a plan, like `freigabe plan`: the audit and its decision, the target's state, the build
run found for the commit (or that it will be dispatched), and every API call and read e2e will
make; its id is the SHA-256 of its canonical JSON, the environment's phrase approves exactly
that id, and a plan runs once. Running it drives GitHub (dispatch, watch, download) and only
*reads* the target: the workflow run changes it, e2e verifies on its own that it did.

For an environment with a promotion rule (production): the source's last E2E must have passed,
the source must have been stable for `stable_for` (the source's GitHub Deployments, and
freigabe's ledger where it deployed there), the bundle is the source's (same build run, same
SHA-256), and the pre-flight runs before the deploy is dispatched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from freigabe.adapters.github import GitHub, GitHubError
from freigabe.adapters.github_actions import Actions
from freigabe.adapters.identity import actor
from freigabe.config import LoadedConfig
from freigabe.config.models import GitHubConfig, PipelineConfig, PipelineDeploy, approval_phrase
from freigabe.core.decision import decide
from freigabe.core.e2e_plan import ApiCall, E2EPlan, GateResult, Verdict, acceptance, gates_for, judge_gates
from freigabe.core.e2e_plan import render_inputs as fill
from freigabe.core.findings import Finding
from freigabe.core.redact import Redactor
from freigabe.core.run_logs import log_lines
from freigabe.core.secret_names import secret_names
from freigabe.errors import ApprovalError, E2EFailed, E2ETimeout, StalePlan, UsageError
from freigabe.usecases import e2e_promotion
from freigabe.usecases.audit import run_audit
from freigabe.usecases.e2e_verify import TargetState, ledger_evidence, own_checks, read_state, write_evidence
from freigabe.usecases.e2e_watch import Progress, Watched, Watcher
from freigabe.usecases.planning import check_phrase
from freigabe.usecases.refusals import note_refusal
from freigabe.usecases.status import status as status_of


def e2e_dir(loaded: LoadedConfig) -> Path:
    return loaded.state_dir / "e2e"


def pipeline_of(loaded: LoadedConfig, env_name: str) -> tuple[GitHubConfig, PipelineConfig, PipelineDeploy]:
    gh = loaded.config.github
    loaded.config.environment(env_name)
    if gh is None or gh.pipeline is None:
        raise UsageError(
            "freigabe e2e needs [github] and [github.pipeline] in freigabe.toml (the build workflow and, "
            f"under [github.pipeline.deploy.{env_name}], the deploy workflow to dispatch)"
        )
    deploy = gh.pipeline.deploy.get(env_name)
    if deploy is None:
        raise UsageError(
            f"[github.pipeline.deploy.{env_name}] is missing: name the workflow that deploys {env_name}, "
            'e.g. workflow = "deploy-staging.yml"'
        )
    return gh, gh.pipeline, deploy


def head_sha(loaded: LoadedConfig, given: str | None) -> str:
    sha = given
    if sha is None:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=loaded.root, capture_output=True, text=True, check=False, timeout=30
        )
        sha = proc.stdout.strip() if proc.returncode == 0 else None
    if not sha or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise UsageError("give the commit to validate with --sha (40 hex digits); the project is not a git checkout")
    return sha


def _calls(
    repo: str, pipe: PipelineConfig, dep: PipelineDeploy, build_run_id: int | None, promoted: bool
) -> list[ApiCall]:
    base = f"/repos/{repo}/actions"
    build = "{build_run_id}" if build_run_id is None else str(build_run_id)
    calls = []
    if build_run_id is None:
        calls += [
            ApiCall(
                method="POST",
                path=f"{base}/workflows/{pipe.build_workflow}/dispatches",
                when="no successful build for the commit: dispatch it",
                body={"ref": pipe.ref, "inputs": pipe.build_inputs, "return_run_details": True},
            ),
            ApiCall(
                method="GET",
                path=f"{base}/runs/{build}",
                when=f"every {pipe.poll_interval:g} s until it completes (at most {pipe.build_timeout:g} s)",
            ),
            ApiCall(method="GET", path=f"{base}/runs/{build}/jobs", when="with each poll: steps for the progress"),
            ApiCall(method="POST", path=f"{base}/runs/{build}/cancel", when="only if the build times out"),
        ]
    else:
        calls.append(ApiCall(method="GET", path=f"{base}/runs/{build}", when="the build is still a success"))
    if promoted:
        calls += [
            ApiCall(
                method="GET", path=f"{base}/runs/{build}/artifacts", when="the source's bundle, for the pre-flight"
            ),
            ApiCall(method="GET", path=f"{base}/artifacts/{{bundle_artifact_id}}/zip", when="download it"),
        ]
    calls += [
        ApiCall(
            method="POST",
            path=f"{base}/workflows/{dep.workflow}/dispatches",
            when="phase 2: deploy",
            body={"ref": dep.ref or pipe.ref, "inputs": dep.inputs, "return_run_details": True},
        ),
        ApiCall(
            method="GET",
            path=f"{base}/workflows/{dep.workflow}/runs",
            when="only if the dispatch returns no run id: event, branch and creation time",
        ),
        ApiCall(
            method="GET",
            path=f"{base}/runs/{{run_id}}",
            when=f"every {pipe.poll_interval:g} s (at most {pipe.deploy_timeout:g} s)",
        ),
        ApiCall(method="GET", path=f"{base}/runs/{{run_id}}/jobs", when="with each poll: steps for the progress"),
        ApiCall(
            method="GET",
            path=f"{base}/runs/{{run_id}}/pending_deployments",
            when=f"while it waits for an environment reviewer (at most {pipe.review_timeout:g} s)",
        ),
        ApiCall(
            method="POST",
            path=f"{base}/runs/{{run_id}}/cancel",
            when="only if it is still queued or waiting at its timeout",
        ),
        ApiCall(method="GET", path=f"{base}/runs/{{run_id}}/logs", when="phase 3: the gate lines"),
    ]
    if dep.ledger_artifact:
        calls += [
            ApiCall(method="GET", path=f"{base}/runs/{{run_id}}/artifacts", when="phase 4: the ledger artifact"),
            ApiCall(method="GET", path=f"{base}/artifacts/{{ledger_artifact_id}}/zip", when="download it"),
        ]
    return calls


def _reads(loaded: LoadedConfig, env_name: str) -> list[str]:
    env = loaded.config.environment(env_name)
    reads = [
        f"readlink {env.deploy_path}/current",
        f"ls {env.deploy_path}/releases",
        f"read {env.deploy_path}/.freigabe/ledger.jsonl",
    ]
    if env.readiness.probe:
        reads.append(f"GET {env.url}{env.readiness.probe.url} (release probe)")
    reads += [f"GET {check.url} ({check.name}, up to {check.attempts} attempts)" for check in env.health]
    if env.assets.manifest:
        reads.append(f"GET {env.assets.manifest} and every file it names")
    return reads


@dataclass
class E2EPlanned:
    plan: E2EPlan
    findings: list[Finding]


def make_e2e_plan(loaded: LoadedConfig, env_name: str, sha: str | None = None) -> E2EPlanned:
    gh_cfg, pipe, dep = pipeline_of(loaded, env_name)
    env = loaded.config.environment(env_name)
    state = read_state(loaded, env_name)
    findings: list[Finding] = []
    promotion: dict[str, Any] | None = None
    with GitHub(gh_cfg) as gh:
        actions = Actions(gh)
        try:
            if env.promotion is not None:
                promotion, findings = e2e_promotion.check(loaded, env_name, actions, e2e_dir(loaded))
                commit = str(promotion.get("sha") or sha or "")
                build_run_id = promotion.get("build_run_id")
            else:
                commit = head_sha(loaded, sha)
                found = Watcher(actions, {}, pipe.poll_interval, _Quiet()).find_build(pipe.build_workflow, commit)
                build_run_id = int(found["id"]) if found else None
        except GitHubError as exc:
            raise UsageError(f"GitHub did not answer as expected while planning: {exc.message}") from None
    audit = run_audit(loaded, env_name)
    production = env_name in loaded.config.policy.production_environments or env.promotion is not None
    findings = audit.findings + findings
    decision = decide(findings, env_name, loaded.config.policy, production)
    warnings = [] if build_run_id else [f"no successful {pipe.build_workflow} run for {commit[:12]}: e2e dispatches it"]
    warnings += [
        f"{n} is not set in this shell; the health checks need it"
        for n in secret_names(loaded.config)
        if n not in gh_cfg.token_env and not os.environ.get(n)
    ]
    plan = E2EPlan(
        environment=env_name,
        repo=gh_cfg.repo,
        sha=commit,
        ref=pipe.ref,
        build_workflow=pipe.build_workflow,
        build_run_id=int(build_run_id) if build_run_id else None,
        deploy_workflow=dep.workflow,
        deploy_ref=dep.ref or pipe.ref,
        inputs=dep.inputs,
        ledger_artifact=dep.ledger_artifact,
        bundle_artifact=pipe.bundle_artifact,
        gates=gates_for(loaded.config, env_name, pipe.log_preset, dep.gates),
        timeouts={
            "queue": pipe.queue_timeout,
            "build": pipe.build_timeout,
            "deploy": pipe.deploy_timeout,
            "review": pipe.review_timeout,
            "poll": pipe.poll_interval,
        },
        calls=_calls(gh_cfg.repo, pipe, dep, int(build_run_id) if build_run_id else None, promotion is not None),
        reads=_reads(loaded, env_name),
        current_release=state.current,
        releases=state.releases,
        config_digest=loaded.digest,
        approval_phrase=approval_phrase(env_name, env),
        promotion=promotion,
        decision=decision,
        warnings=warnings,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    return E2EPlanned(plan, findings)


class _Quiet:
    def note(self, text: str) -> None:
        return None

    def step(self, job: str, number: int, name: str, state: str) -> None:
        return None


# ---------------------------------------------------------------- saving and approving


def save_e2e_plan(loaded: LoadedConfig, plan: E2EPlan) -> Path:
    folder = e2e_dir(loaded) / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{plan.id}.json"
    path.write_text(json.dumps(plan.to_json(), indent=2), encoding="utf-8")
    return path


def load_e2e_plan(loaded: LoadedConfig, plan_id: str) -> E2EPlan:
    wanted = plan_id.strip().lower()
    if len(wanted) < 8:
        raise UsageError(f"plan id {plan_id!r} is too short; give at least 8 characters of it")
    folder = e2e_dir(loaded) / "plans"
    matches = sorted(folder.glob(f"{wanted}*.json")) if folder.is_dir() else []
    if len(matches) != 1:
        raise ApprovalError(
            f"no single saved E2E plan {plan_id} in {folder}; make one with `freigabe e2e ENV` "
            "and approve the id it prints"
        )
    return E2EPlan.from_json(json.loads(matches[0].read_text(encoding="utf-8")))


def _refuse(loaded: LoadedConfig, plan: E2EPlan, current: str | None) -> None:
    def refused(exc: ApprovalError) -> ApprovalError:
        note_refusal(loaded, plan.environment, "approval.refused", plan=plan.id, by=actor(), reason=exc.message)
        return exc

    command = f"freigabe e2e {plan.environment}"
    ran = e2e_dir(loaded) / "ran" / f"{plan.id}.json"
    already = ApprovalError(f"E2E plan {plan.id[:12]} already ran; a plan runs once — make a new plan with `{command}`")
    if ran.exists():
        raise refused(already)
    if plan.decision is not None and plan.decision.verdict == "NO-GO":
        raise refused(
            ApprovalError(
                f"E2E plan {plan.id[:12]} has the decision NO-GO (blocking: {', '.join(plan.decision.blocking)}); "
                f"fix those findings, then make a new plan with `{command}`"
            )
        )
    reasons = []
    if loaded.digest != plan.config_digest:
        reasons.append("freigabe.toml changed since the plan was made")
    if current != plan.current_release:
        reasons.append(f"the live release changed ({plan.current_release or 'none'} → {current or 'none'})")
    if reasons:
        raise refused(
            StalePlan(f"E2E plan {plan.id[:12]} is stale: {'; '.join(reasons)}; make a new plan with `{command}`")
        )
    ran.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(ran, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another run of the same plan won the race
        raise refused(already) from None
    with os.fdopen(fd, "w") as fh:
        json.dump({"plan": plan.id, "by": actor(), "at": datetime.now(UTC).isoformat()}, fh)


# ---------------------------------------------------------------- running


@dataclass
class E2EResult:
    verdict: Verdict
    evidence: Path
    api_calls: int
    e2e_seconds: float
    pipeline_seconds: float
    deploy_url: str | None
    timed_out: str | None = None


def last_result(loaded: LoadedConfig, env_name: str) -> dict[str, Any] | None:
    path = e2e_dir(loaded) / f"{env_name}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else None


def _record(loaded: LoadedConfig, env_name: str, data: dict[str, Any]) -> None:
    path = e2e_dir(loaded) / f"{env_name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")


def run_e2e(loaded: LoadedConfig, plan: E2EPlan, phrase: str, progress: Progress) -> E2EResult:
    gh_cfg = pipeline_of(loaded, plan.environment)[0]
    try:
        check_phrase(plan, phrase)
    except ApprovalError as exc:
        note_refusal(loaded, plan.environment, "approval.refused", plan=plan.id, by=actor(), reason=exc.message)
        raise
    before = read_state(loaded, plan.environment)
    _refuse(loaded, plan, before.current)
    started = time.monotonic()
    redactor = Redactor([os.environ.get(name, "") for name in secret_names(loaded.config)])
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + plan.id[:6]
    folder = e2e_dir(loaded) / "runs" / run_id
    ev: dict[str, Any] = {
        "schema_version": 1,
        "environment": plan.environment,
        "plan": plan.id,
        "approved_by": actor(),
        "sha": plan.sha,
        "symlink": {"before": before.current, "after": None},
        "releases_before": before.releases,
    }
    with GitHub(gh_cfg) as gh:
        actions = Actions(gh)
        watcher = Watcher(actions, plan.timeouts, plan.timeouts["poll"], progress)
        try:
            return _phases(loaded, plan, actions, watcher, progress, before, ev, folder, redactor, started)
        except (E2ETimeout, E2EFailed, GitHubError) as exc:
            after = read_state(loaded, plan.environment).current
            ev["symlink"]["after"] = after
            ev["attention"] = status_of(loaded, plan.environment).attention
            why = exc.message + "".join(f"; {a['problem']} → run `{a['command']}`" for a in ev["attention"])
            ev["verdict"] = Verdict(verdict="FAIL", summary=why, rolled_back=False, criteria=[]).model_dump()
            ev.update(_timing(actions, started, ev))
            write_evidence(folder, ev, redactor)
            _record(
                loaded,
                plan.environment,
                {
                    "ts": _now(),
                    "plan": plan.id,
                    "verdict": "FAIL",
                    "summary": why,
                    "sha": plan.sha,
                    "evidence": str(folder),
                },
            )
            if isinstance(exc, GitHubError):
                raise E2EFailed(f"GitHub: {why}; evidence in {folder}") from None
            raise type(exc)(
                f"{why}; {plan.environment} still serves {after or 'nothing'}; evidence in {folder}"
            ) from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timing(actions: Actions, started: float, ev: dict[str, Any]) -> dict[str, Any]:
    own = sum(float(ev.get(k, {}).get("seconds", 0.0)) for k in ("build", "deploy") if ev.get(k, {}).get("dispatched"))
    return {
        "timing": {"e2e_seconds": round(time.monotonic() - started, 3), "pipeline_seconds": own},
        "api_calls": len(actions.calls),
        "calls": list(actions.calls),
    }


def _run_facts(watched: Watched, dispatched: bool) -> dict[str, Any]:
    run = watched.run
    return {
        "id": run.get("id"),
        "html_url": run.get("html_url"),
        "conclusion": watched.conclusion,
        "failed_step": watched.failed_step,
        "seconds": watched.seconds,
        "dispatched": dispatched,
        "attempt": run.get("run_attempt", 1),
        "waited_for_review": round(watched.waited_for_review, 1),
        "notes": watched.notes,
    }


def _phases(
    loaded: LoadedConfig,
    plan: E2EPlan,
    actions: Actions,
    watcher: Watcher,
    progress: Progress,
    before: TargetState,
    ev: dict[str, Any],
    folder: Path,
    redactor: Redactor,
    started: float,
) -> E2EResult:
    env_name = plan.environment
    progress.note(
        f"phase 1: {env_name} serves {before.current or 'nothing'}; last releases: "
        f"{', '.join(before.releases) or 'none'}"
    )
    build_run_id = plan.build_run_id
    if build_run_id is not None:
        build = actions.run(build_run_id)
        if build.get("conclusion") != "success" or build.get("head_sha") != plan.sha:
            raise E2EFailed(
                f"build run {build_run_id} is no longer a success for {plan.sha[:12]} "
                f"({build.get('conclusion')}, {str(build.get('head_sha'))[:12]})"
            )
        ev["build"] = {
            "id": build_run_id,
            "html_url": build.get("html_url"),
            "dispatched": False,
            "conclusion": "success",
        }
        progress.note(f"build: run {build_run_id} succeeded for {plan.sha[:12]} ({build.get('html_url')})")
    else:
        progress.note(
            f"build: no successful {plan.build_workflow} run for {plan.sha[:12]}; dispatching it on {plan.ref}"
        )
        build_run_id = watcher.dispatch(
            plan.build_workflow,
            plan.ref,
            loaded.config.github.pipeline.build_inputs
            if loaded.config.github and loaded.config.github.pipeline
            else {},
        )
        watched = watcher.follow(build_run_id, "build")
        ev["build"] = _run_facts(watched, True)
        if watched.conclusion != "success":
            raise E2EFailed(
                f"the build run {build_run_id} ended {watched.conclusion}"
                + (f" at {watched.failed_step}" if watched.failed_step else "")
                + f" ({watched.run.get('html_url')})"
            )
        if watched.run.get("head_sha") != plan.sha:
            raise E2EFailed(
                f"{plan.ref} moved on: the build ran {str(watched.run.get('head_sha'))[:12]}, "
                f"not {plan.sha[:12]}; make a new plan"
            )
    if plan.promotion is not None:
        ev["preflight"] = e2e_promotion.preflight(loaded, plan, actions, build_run_id, progress)
    inputs = fill(
        plan.inputs, {"build_run_id": str(build_run_id), "sha": plan.sha, "ref": plan.ref, "environment": env_name}
    )
    progress.note(f"phase 2: dispatching {plan.deploy_workflow} on {plan.deploy_ref} with {json.dumps(inputs)}")
    deploy_id = watcher.dispatch(plan.deploy_workflow, plan.deploy_ref, inputs)
    watched = watcher.follow(deploy_id, "deploy")
    ev["deploy"] = _run_facts(watched, True)
    progress.note(
        f"deploy run {deploy_id} ended {watched.conclusion}"
        + (f" at {watched.failed_step}" if watched.failed_step else "")
    )
    # phase 3: the log
    folder.mkdir(parents=True, exist_ok=True)
    logs_ok, gates = True, list[GateResult]()
    try:
        data = actions.logs(deploy_id)
        (folder / "logs.zip").write_bytes(data)
        gates = judge_gates(plan.gates, log_lines(data))
    except (GitHubError, ValueError) as exc:
        logs_ok = False
        progress.note(f"phase 3: the logs could not be read ({exc})")
        gates = judge_gates(plan.gates, {})
    ev["gates"] = [redactor.data(g.model_dump()) for g in gates]
    # phase 4: on the target itself
    after = read_state(loaded, env_name, with_ledger=True)
    ev["symlink"]["after"] = after.current
    ev["releases_after"] = after.releases
    checks = own_checks(loaded, env_name, after.current)
    ev["checks"] = {"probe": checks.probe, "health": checks.health, "assets": checks.assets, **checks.details}
    ledger_zip = None
    if plan.ledger_artifact:
        name = plan.ledger_artifact.replace("{run_id}", str(deploy_id))
        found = [a for a in actions.artifacts(deploy_id) if a.get("name") == name]
        if found:
            ledger_zip = actions.artifact_zip(found[0])
            (folder / f"{name}.zip").write_bytes(ledger_zip)
    ledger = ledger_evidence(ledger_zip, env_name, after.entries) if plan.ledger_artifact else None
    ev["ledger"] = ledger.__dict__ if ledger else {"ok": True, "detail": "no ledger artifact configured"}
    ev["bundle_sha256"] = ledger.bundle_sha256 if ledger else None
    evidence_parts = [("logs", logs_ok), ("symlink", True), ("ledger", ledger.ok if ledger else True)]
    missing = [name for name, ok in evidence_parts if not ok]
    # phase 5
    attention = status_of(loaded, env_name).attention
    ev["attention"] = attention
    skipped = [str(j.get("name")) for j in watched.jobs if j.get("conclusion") == "skipped"]
    verdict = acceptance(
        conclusion=watched.conclusion,
        failed_step=watched.failed_step,
        before=before.current,
        after=after.current,
        expected_suffix=f"-{plan.sha[:8]}",
        probe=checks.probe,
        health=checks.health,
        assets=checks.assets,
        gates=gates,
        evidence=(not missing, "complete" if not missing else "missing: " + ", ".join(missing)),
        attempts=int(watched.run.get("run_attempt") or 1),
    )
    if skipped and verdict.verdict == "FAIL":
        verdict = verdict.model_copy(
            update={
                "summary": verdict.summary + f"; the workflow skipped job {', '.join(skipped)} (a phrase-approved "
                "workflow deploys only on a second dispatch with the plan id: drive it with required reviewers)"
            }
        )
    if attention:
        verdict = verdict.model_copy(
            update={
                "verdict": "FAIL",
                "summary": verdict.summary + "".join(f"; {a['problem']} → run `{a['command']}`" for a in attention),
            }
        )
    ev["verdict"] = verdict.model_dump()
    ev.update(_timing(actions, started, ev))
    write_evidence(folder, ev, redactor)
    _record(
        loaded,
        env_name,
        {
            "ts": _now(),
            "plan": plan.id,
            "verdict": verdict.verdict,
            "summary": verdict.summary,
            "rolled_back": verdict.rolled_back,
            "sha": plan.sha,
            "build_run_id": build_run_id,
            "deploy_run_id": deploy_id,
            "release": after.current,
            "bundle_sha256": ev["bundle_sha256"],
            "evidence": str(folder),
        },
    )
    return E2EResult(
        verdict,
        folder,
        len(actions.calls),
        ev["timing"]["e2e_seconds"],
        ev["timing"]["pipeline_seconds"],
        str(watched.run.get("html_url")),
    )
