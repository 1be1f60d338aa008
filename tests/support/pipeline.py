"""A project with GitHub Actions: the fake GitHub running the workflows `freigabe ci init` wrote
(or a test's own) against the project's loopback targets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import TOKEN, CliResult, Project
from .fake_actions import FakeActions

SHA = "c0ffee5a" + "1b2c3d4e" * 4
API_TOKEN = "ghp_e2eDriverToken0123456789abcdef"


def github_toml(url: str, **over: str) -> str:
    """The [github] tables for the fake; keyword arguments override the defaults below."""
    o = {
        "approval": '{ staging = "reviewers", production = "phrase" }',
        "log_preset": "freigabe",
        "build_timeout": "90s",
        "review_timeout": "30s",
        "queue_timeout": "20s",
        "staging_workflow": "freigabe-deploy-staging.yml",
        "extra_deploy": "",
        **over,
    }
    return f"""
[github]
repo = "acme/shop"
api_url = "{url}"
branches = {{}}
build_workflow = "freigabe-build.yml"
deploy_workflows = ["freigabe-deploy-staging.yml", "freigabe-deploy-production.yml"]
timeout = "10s"

[github.ci]
approval = {o["approval"]}

[github.pipeline]
build_workflow = "freigabe-build.yml"
ref = "main"
log_preset = "{o["log_preset"]}"
poll_interval = "0.2s"
queue_timeout = "{o["queue_timeout"]}"
build_timeout = "{o["build_timeout"]}"
deploy_timeout = "150s"
review_timeout = "{o["review_timeout"]}"

[github.pipeline.deploy.staging]
workflow = "{o["staging_workflow"]}"
{o["extra_deploy"]}
[github.pipeline.deploy.production]
workflow = "freigabe-deploy-production.yml"
"""


def _public(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("public key:"))


@dataclass
class Pipeline:
    project: Project
    gh: FakeActions
    trusted: list[str] = field(default_factory=list)  # [ledger] trusted_keys

    @property
    def api(self) -> str:
        return f"{self.gh.url}/repos/acme/shop"

    def configure(self, **over: str) -> None:
        toml = self.project.root / "freigabe.toml"
        text = toml.read_text()
        if "\n[ledger]" in text:
            text = text[: text.index("\n[ledger]")]
        elif "\n[github]" in text:
            text = text[: text.index("\n[github]")]
        ledger = f"\n[ledger]\ntrusted_keys = {json.dumps(self.trusted)}\n" if self.trusted else ""
        toml.write_text(text + ledger + github_toml(self.gh.url, **over))

    def trust_a_ci_key(self, folder: Path) -> None:
        """As a team does once: a ledger key for the deploy job, stored as its secret, trusted with
        this machine's own key."""
        made = self.project.cli("ledger", "key", "--new", str(folder / "ci-ledger.key"))
        own = self.project.cli("ledger", "key")
        assert made.exit_code == 0 and own.exit_code == 0, made.output + own.output
        self.trusted = [_public(made.raw), _public(own.raw)]
        self.gh.secrets["FREIGABE_LEDGER_KEY"] = (folder / "ci-ledger.key").read_text().strip()
        self.configure()

    def dispatch(self, workflow: str, inputs: dict[str, str] | None = None, ref: str = "main") -> int:
        body = {"ref": ref, "inputs": inputs or {}, "return_run_details": True}
        answer = httpx.post(f"{self.api}/actions/workflows/{workflow}/dispatches", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["workflow_run_id"])

    def finish(self, rid: int, timeout: float = 180) -> dict[str, Any]:
        run = self.gh.wait_for(rid, timeout)
        assert run["status"] == "completed", run
        return run

    def build(self) -> int:
        rid = self.dispatch("freigabe-build.yml")
        run = self.finish(rid)
        assert run["conclusion"] == "success", self.log_text(rid)
        return rid

    def log_text(self, rid: int) -> str:
        return "\n".join(line for steps in self.gh.logs[rid].values() for _, _, lines in steps for line in lines)

    def raw_text(self, rid: int) -> str:
        """Every line the steps printed, unmasked, except the `::add-mask::` commands themselves."""
        return "\n".join(line for line in self.gh.raw_output[rid] if not line.startswith("::add-mask::"))

    def step(self, rid: int, job: str, name_part: str) -> dict[str, Any]:
        jobs = {j["name"]: j for j in self.gh.jobs[rid]}
        return next(s for s in jobs[job]["steps"] if name_part in s["name"])

    def e2e_plan(self, env: str, *args: str) -> CliResult:
        return self.project.cli("e2e", env, *args)

    def e2e(self, env: str, *args: str) -> CliResult:
        made = self.project.cli("e2e", env, "--json", *args)
        assert made.exit_code == 0, made.output
        plan = json.loads(made.raw)
        phrase = {"staging": "STAGING-TEST FREIGEGEBEN", "production": "PROD-DEPLOY FREIGEGEBEN"}[env]
        return self.project.cli("e2e", env, "--plan", plan["id"], "--approve", phrase, *args)

    def wait(self, predicate: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)


@pytest.fixture(name="pipeline")
def pipeline_fixture(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The project, its workflows from `freigabe ci init`, and a fake GitHub that runs them."""
    monkeypatch.setenv("GITHUB_TOKEN", API_TOKEN)
    gh = FakeActions(project.root, tmp_path / "work", SHA).start()
    gh.secrets = {"HEALTHCHECK_TOKEN": TOKEN}
    gh.environments = {"staging": {"reviewers": True}, "production": {"reviewers": False}}
    gh.auto_approve = {"staging"}
    gh.grace = (2.5, 1.5)
    line = Pipeline(project, gh)
    line.configure()
    line.trust_a_ci_key(tmp_path)
    project.write("v1")
    made = project.cli("ci", "init")
    assert made.exit_code == 0, made.output
    try:
        yield line
    finally:
        gh.stop()
