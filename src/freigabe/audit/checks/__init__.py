"""The repository checks: pure functions from workflow facts to findings, and their registry."""

from __future__ import annotations

from collections.abc import Callable

from freigabe.audit.checks.artifacts import check_deploy_before_build
from freigabe.audit.checks.health import check_health_cannot_fail
from freigabe.audit.checks.jq import check_jq_null_guard
from freigabe.audit.checks.ssh import check_ssh_host_keys
from freigabe.audit.checks.structure import (
    check_call_triggers,
    check_deploy_job_guards,
    check_duplicate_names,
    check_parse_errors,
    check_workflow_run_success,
)
from freigabe.audit.checks.switch import check_hardening
from freigabe.audit.facts import Workflow
from freigabe.core.findings import Finding, finding

Check = Callable[[list[Workflow]], list[Finding]]

# In report order. Each check yields rows for the workflows it applies to and nothing else.
REGISTRY: dict[str, Check] = {
    "workflow.parse": check_parse_errors,
    "workflow.jq-null-guard": check_jq_null_guard,
    "workflow.duplicate-name": check_duplicate_names,
    "workflow.health-check-cannot-fail": check_health_cannot_fail,
    "workflow.hardening": check_hardening,
    "workflow.deploy-before-build": check_deploy_before_build,
    "workflow.call-trigger": check_call_triggers,
    "workflow.workflow-run-success": check_workflow_run_success,
    "workflow.ssh-host-key": check_ssh_host_keys,
    "workflow.deploy-job-guards": check_deploy_job_guards,
}


def run_checks(workflows: list[Workflow]) -> list[Finding]:
    readable = [wf for wf in workflows if not wf.error]
    rows = check_parse_errors(workflows)
    for check_id, check in REGISTRY.items():
        if check_id == "workflow.parse":
            continue
        try:
            rows += check(workflows if check_id == "workflow.duplicate-name" else readable)
        except Exception as exc:  # a bug in a check must not hide the other checks' rows
            rows.append(
                finding(
                    "workflow.check-error",
                    "repo",
                    f"Check {check_id} ran",
                    subject=check_id,
                    soll="every check runs on every workflow",
                    ist=f"{check_id} stopped on these workflows ({exc.__class__.__name__}: {exc})"[:300],
                    impact="P2",
                    ok=False,
                    status="warn",
                    fix="report it with the workflow file; the other checks' rows stand",
                    evidence={"excerpt": "", "line": 0},
                )
            )
    return rows
