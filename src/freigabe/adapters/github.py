"""A small GitHub REST client (httpx): only the endpoints the audit and `fix` use.

Pagination follows the `Link: <…>; rel="next"` header. Redirects are not followed:
an artifact download answers 302 (available) or 410 (expired), and that is the fact.
The token is sent, never logged or returned.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import httpx

from freigabe.config.models import GitHubConfig
from freigabe.errors import FreigabeError, TargetError

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(FreigabeError):
    exit_code = TargetError.exit_code

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


def token_from_env(names: list[str]) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


class GitHub:
    def __init__(self, config: GitHubConfig, token: str | None = None) -> None:
        self.config = config
        self.owner, self.repo = config.repo.split("/", 1)
        token = token if token is not None else token_from_env(config.token_env)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "freigabe",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.authenticated = bool(token)
        self.calls: list[str] = []  # "METHOD path" of every request made, for evidence and the bench
        self.client = httpx.Client(
            base_url=config.api_url.rstrip("/"), headers=headers, timeout=config.timeout, follow_redirects=False
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repo_path(self, path: str) -> str:
        return f"/repos/{self.owner}/{self.repo}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        url = path if path.startswith("http") else self._repo_path(path)
        self.calls.append(f"{method} {url.split('?')[0]}")
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise GitHubError(
                f"GitHub API at {self.config.api_url} did not answer ({type(exc).__name__}); "
                "check api_url and the network"
            ) from None
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        return Answer(response.status_code, body, dict(response.headers))

    def get(self, path: str, **params: Any) -> Answer:
        return self.request("GET", path, params=params or None)

    def paginate(self, path: str, key: str | None, limit: int = 1000, **params: Any) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": min(100, limit), **params}
        while url and len(items) < limit:
            answer = self.request("GET", url, params=query)
            if answer.status != 200:
                raise GitHubError(
                    f"GET {url} answered HTTP {answer.status}: {answer.message}", answer.status, answer.body
                )
            page = answer.body.get(key, []) if key else answer.body
            items.extend(page or [])
            match = _NEXT.search(answer.headers.get("link", ""))
            url, query = (match.group(1), None) if match else (None, None)
        return items[:limit]

    # -- endpoints

    def branch_protection(self, branch: str) -> Answer:
        return self.get(f"/branches/{branch}/protection")

    def branch_rules(self, branch: str) -> Answer:
        return self.get(f"/rules/branches/{branch}", per_page=100)

    def workflows(self) -> list[dict[str, Any]]:
        return self.paginate("/actions/workflows", "workflows")

    def runs(self, workflow_file: str, limit: int, **params: Any) -> list[dict[str, Any]]:
        return self.paginate(f"/actions/workflows/{workflow_file}/runs", "workflow_runs", limit=limit, **params)

    def artifacts(self, run_id: int) -> list[dict[str, Any]]:
        return self.paginate(f"/actions/runs/{run_id}/artifacts", "artifacts")

    def artifact_download(self, artifact_id: int) -> Answer:
        return self.get(f"/actions/artifacts/{artifact_id}/zip")

    def put_branch_protection(self, branch: str, body: dict[str, Any]) -> Answer:
        return self.request("PUT", f"/branches/{branch}/protection", json=body)
