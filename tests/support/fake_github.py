"""A local HTTP server that answers like api.github.com (documented response shapes).

State is plain data the test sets; requests are recorded. Pagination uses `per_page`,
`page` and a `Link` header like GitHub's. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCS = "https://docs.github.com/rest"
NOT_PROTECTED = {
    "message": "Branch not protected",
    "documentation_url": f"{DOCS}/branches/branch-protection#get-branch-protection",
    "status": "404",
}
NOT_FOUND = {"message": "Not Found", "documentation_url": f"{DOCS}", "status": "404"}
FORBIDDEN = {
    "message": "Resource not accessible by personal access token",
    "documentation_url": f"{DOCS}/branches/branch-protection#get-branch-protection",
    "status": "403",
}
EXPIRED = {"message": "Artifact has expired", "documentation_url": f"{DOCS}/actions/artifacts", "status": "410"}


def protection(contexts: list[str], reviews: int = 0, strict: bool = True) -> dict[str, Any]:
    url = "https://api.github.com/repos/acme/shop/branches/main/protection"
    body: dict[str, Any] = {
        "url": url,
        "required_status_checks": {
            "url": f"{url}/required_status_checks",
            "strict": strict,
            "contexts": contexts,
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": None} for c in contexts],
        },
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": False},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
    }
    if reviews:
        body["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": False,
            "required_approving_review_count": reviews,
        }
    return body


def ruleset_rules(contexts: list[str], reviews: int = 0) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "type": "required_status_checks",
            "ruleset_source_type": "Repository",
            "ruleset_source": "acme/shop",
            "ruleset_id": 42,
            "parameters": {
                "strict_required_status_checks_policy": True,
                "required_status_checks": [{"context": c, "integration_id": None} for c in contexts],
            },
        }
    ]
    if reviews:
        rules.append(
            {
                "type": "pull_request",
                "ruleset_source_type": "Repository",
                "ruleset_source": "acme/shop",
                "ruleset_id": 42,
                "parameters": {
                    "required_approving_review_count": reviews,
                    "dismiss_stale_reviews_on_push": True,
                    "require_code_owner_review": False,
                    "require_last_push_approval": False,
                    "required_review_thread_resolution": False,
                },
            }
        )
    return rules


def workflow(wid: int, name: str, file: str, state: str = "active") -> dict[str, Any]:
    return {
        "id": wid,
        "node_id": f"W_{wid}",
        "name": name,
        "path": f".github/workflows/{file}",
        "state": state,
        "created_at": "2025-10-01T10:00:00.000Z",
        "updated_at": "2025-11-02T10:00:00.000Z",
        "url": f"https://api.github.com/repos/acme/shop/actions/workflows/{wid}",
        "html_url": f"https://github.com/acme/shop/blob/main/.github/workflows/{file}",
        "badge_url": f"https://github.com/acme/shop/workflows/{name}/badge.svg",
    }


def run(
    rid: int,
    sha: str,
    conclusion: str | None,
    status: str = "completed",
    name: str = "Deploy to Staging",
    file: str = "deploy-staging.yml",
) -> dict[str, Any]:
    return {
        "id": rid,
        "name": name,
        "node_id": f"R_{rid}",
        "head_branch": "develop",
        "head_sha": sha,
        "path": f".github/workflows/{file}@develop",
        "run_number": rid % 1000,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 2,
        "html_url": f"https://github.com/acme/shop/actions/runs/{rid}",
        "created_at": "2025-11-02T14:54:51Z",
        "updated_at": "2025-11-02T14:58:00Z",
    }


def artifact(aid: int, name: str, run_id: int, sha: str, expired: bool = False) -> dict[str, Any]:
    return {
        "id": aid,
        "node_id": f"A_{aid}",
        "name": name,
        "size_in_bytes": 123456,
        "url": f"https://api.github.com/repos/acme/shop/actions/artifacts/{aid}",
        "archive_download_url": f"https://api.github.com/repos/acme/shop/actions/artifacts/{aid}/zip",
        "expired": expired,
        "created_at": "2025-11-02T16:52:41Z",
        "expires_at": "2025-12-02T16:52:41Z",
        "updated_at": "2025-11-02T16:52:41Z",
        "digest": "sha256:" + "0" * 64,
        "workflow_run": {
            "id": run_id,
            "repository_id": 1,
            "head_repository_id": 1,
            "head_branch": "develop",
            "head_sha": sha,
        },
    }


class FakeGitHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.classic: dict[str, tuple[int, Any]] = {}
        self.rules: dict[str, list[dict[str, Any]]] = {}
        self.workflows: list[dict[str, Any]] = []
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.artifacts: dict[int, list[dict[str, Any]]] = {}
        self.downloads: dict[int, int] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None, str | None]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeGitHub:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _page(self, items: list[Any], key: str | None, query: dict[str, list[str]], path: str) -> None:
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            rest = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "page")
            headers["Link"] = f'<{self.server.url}{path}?{rest}&page={page + 1}>; rel="next"'
        body = {"total_count": len(items), key: chunk} if key else chunk
        self._json(200, body, headers)

    def _record(self, body: dict[str, Any] | None = None) -> None:
        with self.server.lock:
            self.server.requests.append((self.command, self.path, body, self.headers.get("Authorization")))

    def do_GET(self) -> None:
        self._record()
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        s = self.server
        if m := re.fullmatch(r"/repos/acme/shop/branches/([^/]+)/protection", path):
            status, body = s.classic.get(m.group(1), (404, NOT_PROTECTED))
            return self._json(status, body)
        if m := re.fullmatch(r"/repos/acme/shop/rules/branches/([^/]+)", path):
            return self._page(s.rules.get(m.group(1), []), None, query, path)
        if path == "/repos/acme/shop/actions/workflows":
            return self._page(s.workflows, "workflows", query, path)
        if m := re.fullmatch(r"/repos/acme/shop/actions/workflows/([^/]+)/runs", path):
            runs = s.runs.get(m.group(1))
            if runs is None:
                return self._json(404, NOT_FOUND)
            if "head_sha" in query:
                runs = [r for r in runs if r["head_sha"] == query["head_sha"][0]]
            return self._page(runs, "workflow_runs", query, path)
        if m := re.fullmatch(r"/repos/acme/shop/actions/runs/(\d+)/artifacts", path):
            return self._page(s.artifacts.get(int(m.group(1)), []), "artifacts", query, path)
        if m := re.fullmatch(r"/repos/acme/shop/actions/artifacts/(\d+)/zip", path):
            status = s.downloads.get(int(m.group(1)), 302)
            if status == 302:
                self.send_response(302)
                self.send_header("Location", "https://pipelines.actions.githubusercontent.com/blob/zip")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json(410, EXPIRED)
        return self._json(404, NOT_FOUND)

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self._record(body)
        if m := re.fullmatch(r"/repos/acme/shop/branches/([^/]+)/protection", urlsplit(self.path).path):
            status, _ = self.server.classic.get(m.group(1), (404, NOT_PROTECTED))
            if status == 403:
                return self._json(403, FORBIDDEN)
            checks = body["required_status_checks"]["contexts"]
            reviews = (body.get("required_pull_request_reviews") or {}).get("required_approving_review_count", 0)
            new = protection(checks, reviews, body["required_status_checks"]["strict"])
            self.server.classic[m.group(1)] = (200, new)
            return self._json(200, new)
        return self._json(404, NOT_FOUND)
