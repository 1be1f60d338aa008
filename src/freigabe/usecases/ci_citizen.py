"""freigabe as a citizen of a GitHub Actions job (chosen when GITHUB_ACTIONS=true).

Masks every secret value the config names before anything prints, writes the plan report and
the run's evidence to the job summary, the plan id as a step output, findings and failures as
annotations (with file and line where the finding has them), and records a GitHub Deployment
per deploy with its statuses — unless the job's own `environment:` records it already
(`FREIGABE_GITHUB_DEPLOYMENT=environment`, which `freigabe ci init` sets), so nothing is doubled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from freigabe.adapters.actions_runner import WorkflowCommands, in_actions, run_url
from freigabe.adapters.github import GitHub, GitHubError
from freigabe.adapters.github_actions import Actions
from freigabe.config import LoadedConfig
from freigabe.config.models import Config
from freigabe.core.findings import Finding
from freigabe.core.plan import Plan
from freigabe.core.secret_names import secret_names

DEPLOYMENT_ENV = "FREIGABE_GITHUB_DEPLOYMENT"


class Citizen:
    """What freigabe does in a job beyond its normal output; inert outside GitHub Actions."""

    def __init__(self, commands: WorkflowCommands | None = None) -> None:
        self.active = in_actions()
        self.commands = commands or WorkflowCommands()
        self.started = time.time()

    def mask_config_secrets(self, config: Config) -> None:
        if self.active:
            for name in secret_names(config):
                self.commands.mask(os.environ.get(name))

    def plan_made(self, plan: Plan, report_md: Path, findings: list[Finding]) -> None:
        if not self.active:
            return
        self.commands.output("plan_id", plan.id)
        self.commands.summary(report_md.read_text(encoding="utf-8"))
        self.annotate(findings)

    def annotate(self, findings: list[Finding]) -> None:
        if not self.active:
            return
        for f in findings:
            if f.status in ("ok",) or f.waived:
                continue
            file, line = _location(f.location)
            level = "error" if f.status in ("fail", "pending") and f.impact == "P0" else "warning"
            self.commands.annotate(
                level, f"{f.ist} — fix: {f.fix}" if f.fix else f.ist, title=f.key, file=file, line=line
            )

    def failed(self, message: str) -> None:
        if self.active:
            self.commands.annotate("error", message, title="freigabe")
            self.commands.summary(f"**freigabe failed:** {message}")

    def run_finished(self, loaded: LoadedConfig) -> None:
        """The newest run's evidence (the run this process just made) as the job summary."""
        if not self.active:
            return
        runs = loaded.state_dir / "runs"
        found = sorted(runs.glob("*/evidence.md"), key=lambda p: p.stat().st_mtime) if runs.is_dir() else []
        found = [p for p in found if p.stat().st_mtime >= self.started - 1]
        if found:
            self.commands.summary(found[-1].read_text(encoding="utf-8"))

    @contextmanager
    def deployment(self, loaded: LoadedConfig, plan: Plan) -> Iterator[None]:
        """A GitHub Deployment for this deploy: in_progress, then success or failure. GitHub marks
        the deployment it replaces `inactive` itself (`auto_inactive`, on by default)."""
        record = (
            self.active
            and plan.kind in ("deploy", "rollback", "recover")
            and loaded.config.github is not None
            and os.environ.get(DEPLOYMENT_ENV) != "environment"
        )
        if not record or loaded.config.github is None:
            yield
            return
        env = loaded.config.environment(plan.environment)
        links = {"environment_url": env.url, "log_url": run_url() or ""}
        with GitHub(loaded.config.github) as gh:
            actions = Actions(gh)
            deployment = self._try(
                lambda: actions.create_deployment(
                    os.environ.get("GITHUB_SHA") or os.environ.get("GITHUB_REF_NAME") or "main",
                    plan.environment,
                    f"freigabe {plan.kind} {plan.release} (plan {plan.id[:12]})",
                    {"plan": plan.id, "release": plan.release},
                )
            )
            if deployment is not None:
                self._try(lambda: actions.deployment_status(deployment, "in_progress", **links))
            try:
                yield
            except BaseException:
                if deployment is not None:
                    self._try(lambda: actions.deployment_status(deployment, "failure", **links))
                raise
            if deployment is not None:
                self._try(lambda: actions.deployment_status(deployment, "success", **links))

    def _try(self, call: Callable[[], int | None]) -> int | None:
        """Deployment records are evidence, not gates: a refused call is a warning, never a failure."""
        try:
            return call()
        except GitHubError as exc:
            self.commands.annotate("warning", f"GitHub deployment record not written: {exc.message}")
            return None


def _location(location: str | None) -> tuple[str | None, int | None]:
    if not location:
        return None, None
    file, _, line = location.partition(":")
    return file, int(line) if line.isdigit() else None
