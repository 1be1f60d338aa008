"""`workflow.ssh-host-key`: ssh/scp/rsync verify the host they talk to (P1 in a deploy, P2 elsewhere).

`StrictHostKeyChecking=no` (or `accept-new` on a fresh runner, or `UserKnownHostsFile=/dev/null`)
accepts any key, so whoever answers gets the code and the deploy key's session. Popular
ssh actions do exactly that unless given a fingerprint or known hosts. Known hosts taken
from `ssh-keyscan` at run time trust whatever answers then: advice, not a blocker.
"""

from __future__ import annotations

from freigabe.audit.checks.common import (
    basename,
    deploy_jobs,
    disabled,
    excerpt,
    is_ssh_target,
    resolved_words,
    row,
    timeline,
)
from freigabe.audit.facts import Job, Workflow
from freigabe.core.findings import Finding

# action → (input that pins the host key, what the action does without it)
_ACTIONS = {
    "appleboy/ssh-action": ("fingerprint", "skips host key verification unless `fingerprint` is set"),
    "appleboy/scp-action": ("fingerprint", "skips host key verification unless `fingerprint` is set"),
    "deployphp/action": ("known-hosts", "writes `StrictHostKeyChecking no` unless `known-hosts` is set"),
    "easingthemes/ssh-deploy": ("", "connects with `-o StrictHostKeyChecking=no` by default"),
    "burnett01/rsync-deployments": ("", "connects with `StrictHostKeyChecking=no`"),
    "garygrossgarten/github-action-ssh": ("", "does not verify the host key"),
}
_LOOSE = ("stricthostkeychecking=no", "stricthostkeychecking no", "userknownhostsfile=/dev/null")
_TOFU = ("stricthostkeychecking=accept-new", "stricthostkeychecking accept-new")


def _job_facts(job: Job) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]], list[tuple[int, str]], bool]:
    """(hard problems, soft problems, pinning evidence, ssh used) of one job."""
    hard: list[tuple[str, int, str]] = []
    soft: list[tuple[str, int, str]] = []
    pinned: list[tuple[int, str]] = []
    used = False
    for step in job.steps:
        spec = _ACTIONS.get(step.action)
        if spec is not None:
            used = True
            key, default = spec
            value = step.with_.get(key, "") if key else ""
            if key and "${{" in value:
                pinned.append((step.with_lines.get(key, step.line), f"`{step.uses}` with `{key}`"))
            elif (
                "stricthostkeychecking=no" not in step.with_.get("ssh_cmd_args", "-o StrictHostKeyChecking=no").lower()
            ):
                pinned.append((step.line, f"`{step.uses}` with its own ssh arguments"))
            else:
                hard.append((f"`{step.uses}` {default}", step.line, f"uses: {step.uses}"))
        for key in ("ssh-known-hosts", "known-hosts", "known_hosts"):
            value = step.with_.get(key, "")
            if "${{" in value and step.action != "deployphp/action":
                used = True
                pinned.append((step.with_lines.get(key, step.line), f"`{step.uses}` with `{key}`"))
        if step.action == "shimataro/ssh-key-action" and step.with_.get("known_hosts", "") == "unnecessary":
            hard.append(("`known_hosts: unnecessary` turns host key checking off", step.line, "known_hosts"))
    for occ in timeline(job):
        words = resolved_words(occ)
        tool = basename(words[0]) if words else ""
        text = " ".join([*occ.cmd.words, occ.cmd.heredoc or ""]).lower().replace('"', "").replace("'", "")
        if tool in ("ssh", "scp", "rsync", "sftp", "ansible-playbook", "dep", "deployer", "ssh-keyscan") and (
            tool != "rsync" or any(is_ssh_target(w) for w in words)
        ):
            used = True
        if any(marker in text for marker in _LOOSE):
            hard.append(("host key checking is off (`StrictHostKeyChecking=no`)", occ.line, excerpt(occ.cmd)))
        elif any(marker in text for marker in _TOFU):
            hard.append(
                ("`StrictHostKeyChecking=accept-new` accepts any key on a fresh runner", occ.line, excerpt(occ.cmd))
            )
        if tool == "ssh-keyscan":
            soft.append(
                (
                    "known_hosts comes from `ssh-keyscan` at run time: it trusts whatever answers",
                    occ.line,
                    excerpt(occ.cmd),
                )
            )
        elif "known_hosts" in text and ("secrets." in text or "vars." in text or "$" in text) and tool != "ssh-keyscan":
            pinned.append((occ.line, f"known_hosts written from a secret or variable: `{excerpt(occ.cmd)}`"))
    return hard, soft, pinned, used


def check_ssh_host_keys(workflows: list[Workflow]) -> list[Finding]:
    rows = []
    for wf in workflows:
        hard: list[tuple[str, int, str]] = []
        soft: list[tuple[str, int, str]] = []
        pinned: list[tuple[int, str]] = []
        used = False
        deploying = {job.id for job, _, _ in deploy_jobs(wf)}
        hard_in_deploy = False
        for job in wf.jobs:
            if disabled(job):
                continue
            h, s, p, u = _job_facts(job)
            hard += h
            soft += s
            pinned += p
            used = used or u
            hard_in_deploy = hard_in_deploy or (bool(h) and job.id in deploying)
        if not used:
            continue
        problems = hard or ([] if pinned else soft)
        if not problems and not pinned:
            soft_missing = [("no known_hosts is set up in the workflow for its ssh connections", 0, "")]
            problems = soft_missing
        first = problems[0] if problems else None
        rows.append(
            row(
                "workflow.ssh-host-key",
                wf,
                "Deploy verifies the host key",
                soll="ssh/scp/rsync of a deploy check the host key against known hosts kept as a secret or pinned",
                ist=(first[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
                if first
                else f"host keys pinned: {pinned[0][1]} (line {pinned[0][0]})",
                # loose checking next to pinned keys is a fallback or a side connection: advice
                # a job that only looks at a host risks less than a deploy
                impact="P1" if hard_in_deploy and not pinned else "P2",
                ok=not problems,
                line=first[1] if first else pinned[0][0],
                text=first[2] if first and first[2] else None,
                fix="keep the host's public key in a secret, write it to ~/.ssh/known_hosts (or pass `fingerprint:` "
                "/ `known-hosts:` to the action) and drop `StrictHostKeyChecking=no`",
                problems=[{"what": p[0], "line": p[1], "excerpt": p[2]} for p in problems],
            )
        )
    return rows
