"""The local GitHub, extended with Actions that *run*: dispatch, runs, jobs, logs, artifacts,
cancel, environments with reviewers, deployments and their statuses.

Every response shape follows GitHub's REST documentation (docs.github.com/rest): workflow
dispatch with and without `return_run_details` (200 with `workflow_run_id`, `run_url` and
`html_url`, else 204), runs filtered by workflow file, `head_sha`, `event`, `status`, `branch`
and `created`; jobs with numbered steps and real timings; run logs and artifacts as 302
redirects to zips (the logs zip holds `N_<job>.txt` and `<job>/N_<step>.txt`, each line
prefixed with its time); `POST …/cancel` (202, or 409 once completed); pending deployments and
their review; deployments, statuses and `auto_inactive`. A dispatched run is executed by
`FakeRunner` (tests/support/fake_runner.py) against loopback targets. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .fake_github import NOT_FOUND, FakeGitHub, _Handler

REPO = "/repos/acme/shop"
API = "https://api.github.com/repos/acme/shop"
HTML = "https://github.com/acme/shop"
BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
ACTOR = {"login": "octocat", "id": 1, "type": "User"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_matches(created: str, spec: str) -> bool:
    """GitHub's search date syntax: `>=T`, `<=T`, `>T`, `<T`, `A..B`, or a day."""
    if ".." in spec:
        low, high = spec.split("..", 1)
        return (low == "*" or created >= low) and (high == "*" or created <= high + ("" if "T" in high else "T99"))
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            value = spec[len(op) :]
            return {">=": created >= value, "<=": created <= value, ">": created > value, "<": created < value}[op]
    return created.startswith(spec)


class FakeActions(FakeGitHub):
    """`repo` is the checkout a run gets; `heads` maps a ref to the commit a dispatch runs."""

    def __init__(self, repo: Path, work: Path, sha: str, token: str = "ghs_fake_installation_token") -> None:  # noqa: S107
        super().__init__()
        self.RequestHandlerClass = _ActionsHandler
        self.repo_dir = repo
        self.work = work
        self.heads: dict[str, str] = {"main": sha, "develop": sha}
        self.token = token
        self.secrets: dict[str, str] = {}
        self.dispatch_details = "2026"  # "2026": honours return_run_details; "ignored": always 204
        self.environments: dict[str, dict[str, Any]] = {}  # name → {"reviewers": bool, "id": int}
        self.auto_approve: set[str] = set()  # environments whose reviewer approves after `review_delay`
        self.review_delay = 0.6
        self.hold_queue = False  # runs stay queued (a runner that never comes)
        self.grace = (7.5, 2.5)  # GitHub: SIGINT, 7.5 s, SIGTERM, 2.5 s, kill the tree
        self.run_by_id: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.logs: dict[int, dict[str, list[tuple[int, str, list[str]]]]] = {}
        self.raw_output: dict[int, list[str]] = {}  # unmasked step output, for secret assertions
        self.blobs: dict[str, bytes] = {}
        self.blob_requests: list[tuple[str, str | None]] = []  # (blob, Authorization header) after a 302
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.pending: dict[int, list[dict[str, Any]]] = {}
        self.approved: dict[int, set[str]] = {}
        self.cancel_requested: set[int] = set()
        self.executions: dict[int, Any] = {}
        self.summaries: dict[int, dict[str, str]] = {}
        self.timings: dict[int, tuple[float, float]] = {}  # run → (started, completed), monotonic
        self.next_id = 19_000_000_001

    def start(self) -> FakeActions:
        super().start()
        return self

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    # ------------------------------------------------------------ workflows

    def workflow_file(self, ident: str) -> Path | None:
        folder = self.repo_dir / ".github" / "workflows"
        for index, path in enumerate(sorted(folder.glob("*.y*ml")) if folder.is_dir() else [], start=1):
            if ident in (path.name, str(index)):
                return path
        return None

    def refresh_workflows(self) -> None:
        from .fake_github import workflow

        folder = self.repo_dir / ".github" / "workflows"
        found = []
        for index, path in enumerate(sorted(folder.glob("*.y*ml")) if folder.is_dir() else [], start=1):
            name = (yaml.safe_load(path.read_text()) or {}).get("name") or path.name
            found.append(workflow(index, str(name), path.name))
        with self.lock:
            self.workflows = found

    def dispatch(self, ident: str, body: dict[str, Any]) -> tuple[int, Any]:
        from .fake_runner import FakeRunner

        self.refresh_workflows()
        path = self.workflow_file(ident)
        if path is None:
            return 404, NOT_FOUND
        doc = yaml.safe_load(path.read_text())
        on = doc.get("on", doc.get(True)) or {}
        if isinstance(on, str | list) or "workflow_dispatch" not in on:
            return 422, {"message": "Workflow does not have 'workflow_dispatch' trigger", "status": "422"}
        declared = (on.get("workflow_dispatch") or {}).get("inputs") or {}
        given = {str(k): str(v) for k, v in (body.get("inputs") or {}).items()}
        unexpected = sorted(set(given) - set(declared))
        if unexpected:
            return 422, {"message": f"Unexpected inputs provided: {json.dumps(unexpected)}", "status": "422"}
        for name, spec in declared.items():
            if (spec or {}).get("required") and not given.get(name) and (spec or {}).get("default") in (None, ""):
                return 422, {"message": f"Required input '{name}' not provided", "status": "422"}
            if name not in given and (spec or {}).get("default") is not None:
                given[name] = str(spec["default"])
        ref = str(body.get("ref", "main")).removeprefix("refs/heads/")
        if ref not in self.heads:
            return 422, {"message": f"No ref found for: {ref}", "status": "422"}
        rid = self.new_id()
        wid = next(int(w["id"]) for w in self.workflows if w["path"].endswith(path.name))
        run = {
            "id": rid,
            "name": str(doc.get("name") or path.name),
            "node_id": f"WFR_{rid}",
            "head_branch": ref,
            "head_sha": self.heads[ref],
            "path": f".github/workflows/{path.name}",
            "display_title": str(doc.get("name") or path.name),
            "run_number": rid % 10_000,
            "run_attempt": 1,
            "event": "workflow_dispatch",
            "status": "queued",
            "conclusion": None,
            "workflow_id": wid,
            "url": f"{API}/actions/runs/{rid}",
            "html_url": f"{HTML}/actions/runs/{rid}",
            "jobs_url": f"{API}/actions/runs/{rid}/jobs",
            "logs_url": f"{API}/actions/runs/{rid}/logs",
            "artifacts_url": f"{API}/actions/runs/{rid}/artifacts",
            "cancel_url": f"{API}/actions/runs/{rid}/cancel",
            "rerun_url": f"{API}/actions/runs/{rid}/rerun",
            "workflow_url": f"{API}/actions/workflows/{wid}",
            "created_at": now(),
            "updated_at": now(),
            "run_started_at": now(),
            "actor": ACTOR,
            "triggering_actor": ACTOR,
            "pull_requests": [],
        }
        with self.lock:
            self.runs.setdefault(path.name, []).insert(0, run)
            self.run_by_id[rid] = run
            self.jobs[rid] = []
            self.logs[rid] = {}
            self.raw_output[rid] = []
        execution = FakeRunner(self, run, doc, given)
        self.executions[rid] = execution
        execution.start()
        if body.get("return_run_details") is True and self.dispatch_details == "2026":
            return 200, {"workflow_run_id": rid, "run_url": run["url"], "html_url": run["html_url"]}
        return 204, None

    def wait_for(self, rid: int, timeout: float = 120) -> dict[str, Any]:
        self.executions[rid].join(timeout)
        return self.run_by_id[rid]

    def approve(self, rid: int, environment: str) -> None:
        """A reviewer approves the run's pending deployment of `environment`."""
        with self.lock:
            self.approved.setdefault(rid, set()).add(environment)

    def stop(self) -> None:
        for rid, execution in list(self.executions.items()):
            if execution.is_alive():
                self.cancel_requested.add(rid)
        for execution in list(self.executions.values()):
            execution.join(30)
        super().stop()

    # ------------------------------------------------------------ artifacts and deployments

    def add_artifact(self, rid: int, name: str, data: bytes, retention_days: int = 90) -> dict[str, Any]:
        aid = self.new_id()
        art = {
            "id": aid,
            "node_id": f"A_{aid}",
            "name": name,
            "size_in_bytes": len(data),
            "url": f"{API}/actions/artifacts/{aid}",
            "archive_download_url": f"{API}/actions/artifacts/{aid}/zip",
            "expired": False,
            "created_at": now(),
            "updated_at": now(),
            "expires_at": now(),
            "digest": "sha256:" + __import__("hashlib").sha256(data).hexdigest(),
            "workflow_run": {
                "id": rid,
                "repository_id": 1,
                "head_repository_id": 1,
                "head_branch": self.run_by_id[rid]["head_branch"],
                "head_sha": self.run_by_id[rid]["head_sha"],
            },
        }
        with self.lock:
            existing = self.artifacts.setdefault(rid, [])
            if any(a["name"] == name for a in existing):
                raise ValueError(f"an artifact named {name} already exists in run {rid}")
            existing.append(art)
            self.blobs[f"artifact-{aid}"] = data
        return art

    def create_deployment(self, body: dict[str, Any], creator: dict[str, Any] = BOT) -> dict[str, Any]:
        did = self.new_id()
        env = str(body.get("environment") or "production")
        dep = {
            "url": f"{API}/deployments/{did}",
            "id": did,
            "node_id": f"DE_{did}",
            "sha": self.heads.get(str(body.get("ref")), str(body.get("ref"))),
            "ref": str(body.get("ref")),
            "task": str(body.get("task") or "deploy"),
            "payload": body.get("payload") or {},
            "original_environment": env,
            "environment": env,
            "description": body.get("description"),
            "creator": creator,
            "created_at": now(),
            "updated_at": now(),
            "statuses_url": f"{API}/deployments/{did}/statuses",
            "repository_url": API,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", env == "production")),
        }
        with self.lock:
            self.deployments.insert(0, dep)
            self.statuses[did] = []
        return dep

    def add_status(self, did: int, body: dict[str, Any], creator: dict[str, Any] = BOT) -> dict[str, Any]:
        dep = next(d for d in self.deployments if d["id"] == did)
        sid = self.new_id()
        log_url = str(body.get("log_url") or body.get("target_url") or "")
        status = {
            "url": f"{API}/deployments/{did}/statuses/{sid}",
            "id": sid,
            "node_id": f"DES_{sid}",
            "state": body["state"],
            "creator": creator,
            "description": str(body.get("description") or "")[:140],
            "environment": str(body.get("environment") or dep["environment"]),
            "target_url": log_url,
            "log_url": log_url,
            "environment_url": str(body.get("environment_url") or ""),
            "created_at": now(),
            "updated_at": now(),
            "deployment_url": dep["url"],
            "repository_url": API,
        }
        with self.lock:
            self.statuses[did].insert(0, status)
            dep["updated_at"] = status["created_at"]
        if body["state"] == "success" and body.get("auto_inactive", True):
            for other in [d for d in self.deployments if d["environment"] == dep["environment"] and d["id"] != did]:
                latest = self.statuses.get(other["id"], [])
                if latest and latest[0]["state"] == "success" and not other["transient_environment"]:
                    self.add_status(other["id"], {"state": "inactive", "auto_inactive": False}, creator)
        return status

    def environment_body(self, name: str) -> dict[str, Any] | None:
        env = self.environments.get(name)
        if env is None:
            return None
        rules = []
        if env.get("reviewers"):
            rules.append(
                {
                    "id": 3736,
                    "node_id": "GA_kwDOAAAB",
                    "type": "required_reviewers",
                    "prevent_self_review": False,
                    "reviewers": [{"type": "User", "reviewer": ACTOR}],
                }
            )
        return {
            "id": env.setdefault("id", self.new_id()),
            "node_id": f"EN_{name}",
            "name": name,
            "url": f"{API}/environments/{name}",
            "html_url": f"{HTML}/deployments/activity_log?environments_filter={name}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "can_admins_bypass": True,
            "protection_rules": rules,
            "deployment_branch_policy": None,
        }

    def logs_zip(self, rid: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf, self.lock:
            for index, (job, steps) in enumerate(self.logs[rid].items(), start=1):
                whole = []
                for number, name, lines in steps:
                    safe = name.replace("/", "")
                    zf.writestr(f"{job}/{number}_{safe}.txt", "".join(line + "\n" for line in lines))
                    whole += lines
                zf.writestr(f"{index}_{job}.txt", "".join(line + "\n" for line in whole))
        return buffer.getvalue()


class _ActionsHandler(_Handler):
    server: FakeActions

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        data = json.loads(self.rfile.read(length) or b"{}") if length else {}
        return data if isinstance(data, dict) else {}

    def _redirect(self, key: str) -> None:
        self.send_response(302)
        self.send_header("Location", f"{self.server.url}/_blobs/{key}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _filtered_runs(self, runs: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
        def keep(run: dict[str, Any]) -> bool:
            q = {k: v[0] for k, v in query.items()}
            if "head_sha" in q and run["head_sha"] != q["head_sha"]:
                return False
            if "event" in q and run["event"] != q["event"]:
                return False
            if "branch" in q and run["head_branch"] != q["branch"]:
                return False
            if "status" in q and q["status"] not in (run["status"], run["conclusion"]):
                return False
            return not ("created" in q and not _created_matches(run["created_at"], q["created"]))

        with self.server.lock:
            return [dict(r) for r in runs if keep(r)]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        s = self.server
        if m := re.fullmatch(r"/_blobs/(.+)", path):
            with s.lock:
                s.blob_requests.append((m.group(1), self.headers.get("Authorization")))
            data = s.blobs.get(m.group(1))
            if data is None:
                return self._json(404, NOT_FOUND)
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        self._record()
        if path == f"{REPO}/actions/workflows":
            s.refresh_workflows()
            return self._page(s.workflows, "workflows", query, path)
        if m := re.fullmatch(rf"{REPO}/actions/workflows/([^/]+)/runs", path):
            s.refresh_workflows()
            wf = s.workflow_file(m.group(1))
            if wf is None and m.group(1) not in s.runs:
                return self._json(404, NOT_FOUND)
            name = wf.name if wf else m.group(1)
            return self._page(self._filtered_runs(s.runs.get(name, []), query), "workflow_runs", query, path)
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)", path):
            run = s.run_by_id.get(int(m.group(1)))
            with s.lock:
                return self._json(200, dict(run)) if run else self._json(404, NOT_FOUND)
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)/jobs", path):
            with s.lock:
                jobs = json.loads(json.dumps(s.jobs.get(int(m.group(1)), [])))
            return self._page(jobs, "jobs", query, path)
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)/logs", path):
            rid = int(m.group(1))
            if rid not in s.run_by_id:
                return self._json(404, NOT_FOUND)
            s.blobs[f"logs-{rid}"] = s.logs_zip(rid)
            return self._redirect(f"logs-{rid}")
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)/pending_deployments", path):
            with s.lock:
                return self._json(200, list(s.pending.get(int(m.group(1)), [])))
        if m := re.fullmatch(rf"{REPO}/actions/artifacts/(\d+)/zip", path):
            aid = int(m.group(1))
            if s.downloads.get(aid) == 410:
                return super().do_GET()
            return self._redirect(f"artifact-{aid}") if f"artifact-{aid}" in s.blobs else self._json(404, NOT_FOUND)
        if path == f"{REPO}/deployments":
            with s.lock:
                deps = [
                    d
                    for d in s.deployments
                    if all(d.get(k) == query[k][0] for k in ("environment", "sha", "ref", "task") if k in query)
                ]
            return self._page(deps, None, query, path)
        if m := re.fullmatch(rf"{REPO}/deployments/(\d+)/statuses", path):
            with s.lock:
                statuses = list(s.statuses.get(int(m.group(1)), []))
            return self._page(statuses, None, query, path)
        if m := re.fullmatch(rf"{REPO}/environments/([^/]+)", path):
            body = s.environment_body(m.group(1))
            return self._json(200, body) if body else self._json(404, NOT_FOUND)
        self.requests_pop()
        return super().do_GET()

    def requests_pop(self) -> None:
        with self.server.lock:
            self.server.requests.pop()  # the parent handler records the request itself

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        self._record(body)
        s = self.server
        if m := re.fullmatch(rf"{REPO}/actions/workflows/([^/]+)/dispatches", path):
            status, answer = s.dispatch(m.group(1), body)
            if status == 204:
                self.send_response(204)
                self.end_headers()
                return None
            return self._json(status, answer)
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)/cancel", path):
            rid = int(m.group(1))
            run = s.run_by_id.get(rid)
            if run is None:
                return self._json(404, NOT_FOUND)
            if run["status"] == "completed":
                return self._json(409, {"message": "Cannot cancel a workflow run that is completed.", "status": "409"})
            s.cancel_requested.add(rid)
            return self._json(202, {})
        if m := re.fullmatch(rf"{REPO}/actions/runs/(\d+)/pending_deployments", path):
            rid = int(m.group(1))
            names = [
                p["environment"]["name"]
                for p in s.pending.get(rid, [])
                if p["environment"]["id"] in body.get("environment_ids", [])
            ]
            if body.get("state") == "approved":
                for name in names:
                    s.approve(rid, name)
            return self._json(200, [d for d in s.deployments if d["environment"] in names][:1])
        if path == f"{REPO}/deployments":
            if not body.get("ref"):
                return self._json(422, {"message": 'Invalid request.\n\n"ref" wasn\'t supplied.', "status": "422"})
            return self._json(201, s.create_deployment(body, ACTOR))
        if m := re.fullmatch(rf"{REPO}/deployments/(\d+)/statuses", path):
            did = int(m.group(1))
            if did not in s.statuses:
                return self._json(404, NOT_FOUND)
            if body.get("state") not in ("error", "failure", "inactive", "in_progress", "queued", "pending", "success"):
                return self._json(422, {"message": "Validation Failed", "status": "422"})
            return self._json(201, s.add_status(did, body, ACTOR))
        return self._json(404, NOT_FOUND)
