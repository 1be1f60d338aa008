"""GitHub Actions and Deployments endpoints, over the REST client in `adapters.github`.

Only what `freigabe e2e` and the CI citizen need: dispatch a workflow (with
`return_run_details`, and the 204 answer of servers that predate it), list and read runs,
jobs and their steps, logs and artifacts as zips, cancel, pending deployments, and
deployments with their statuses. A zip is fetched by following the 302 to its `Location`
*without* the token: credentials go to the API's own origin only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from freigabe.adapters.github import Answer, GitHub, GitHubError

MAX_ZIP = 2 * 1024**3  # a larger download is refused rather than filling the disk


@dataclass(frozen=True)
class Dispatched:
    """What a dispatch answered: the run id (2026 API) or nothing (204, an older server)."""

    status: int
    run_id: int | None
    html_url: str | None


def _check(answer: Answer, what: str, ok: tuple[int, ...] = (200,)) -> Any:
    if answer.status not in ok:
        raise GitHubError(f"{what} answered HTTP {answer.status}: {answer.message or 'no message'}", answer.status)
    return answer.body


class Actions:
    def __init__(self, gh: GitHub) -> None:
        self.gh = gh

    @property
    def calls(self) -> list[str]:
        return self.gh.calls

    # ------------------------------------------------------------ runs

    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> Dispatched:
        path = f"/actions/workflows/{workflow}/dispatches"
        body: dict[str, Any] = {"ref": ref, "inputs": inputs, "return_run_details": True}
        answer = self.gh.request("POST", path, json=body)
        if answer.status == 422 and "return_run_details" in answer.message:
            body.pop("return_run_details")  # a server (GHES) that predates the parameter
            answer = self.gh.request("POST", path, json=body)
        _check(answer, f"dispatching {workflow} on {ref}", (200, 204))
        if answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("workflow_run_id"):
            return Dispatched(200, int(answer.body["workflow_run_id"]), answer.body.get("html_url"))
        return Dispatched(answer.status, None, None)

    def runs(self, workflow: str, limit: int = 20, **filters: str) -> list[dict[str, Any]]:
        return self.gh.runs(workflow, limit, **filters)

    def run(self, run_id: int) -> dict[str, Any]:
        body: dict[str, Any] = _check(self.gh.get(f"/actions/runs/{run_id}"), f"run {run_id}")
        return body

    def jobs(self, run_id: int) -> list[dict[str, Any]]:
        return self.gh.paginate(f"/actions/runs/{run_id}/jobs", "jobs")

    def cancel(self, run_id: int) -> int:
        return self.gh.request("POST", f"/actions/runs/{run_id}/cancel").status

    def pending_deployments(self, run_id: int) -> list[dict[str, Any]]:
        body = _check(self.gh.get(f"/actions/runs/{run_id}/pending_deployments"), f"pending deployments of {run_id}")
        return list(body or [])

    # ------------------------------------------------------------ zips

    def _zip(self, path: str, what: str) -> bytes:
        answer = self.gh.get(path)
        if answer.status == 410:
            raise GitHubError(f"{what} has expired (410 Gone)", 410)
        location = answer.headers.get("location")
        if answer.status != 302 or not location:
            _check(answer, what, ())
        try:
            with httpx.stream("GET", str(location), timeout=self.gh.config.timeout, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise GitHubError(
                        f"{what}: the download answered HTTP {response.status_code}", response.status_code
                    )
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ZIP:
                        raise GitHubError(f"{what} is larger than {MAX_ZIP // 1024**2} MiB; refused")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise GitHubError(f"{what}: the download failed ({type(exc).__name__})") from None

    def logs(self, run_id: int) -> bytes:
        return self._zip(f"/actions/runs/{run_id}/logs", f"the logs of run {run_id}")

    def artifacts(self, run_id: int) -> list[dict[str, Any]]:
        return self.gh.artifacts(run_id)

    def artifact_zip(self, artifact: dict[str, Any]) -> bytes:
        return self._zip(f"/actions/artifacts/{int(artifact['id'])}/zip", f"artifact {artifact.get('name')}")

    # ------------------------------------------------------------ deployments

    def deployments(self, environment: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.gh.paginate("/deployments", None, limit=limit, environment=environment)

    def deployment_statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        return self.gh.paginate(f"/deployments/{deployment_id}/statuses", None, limit=100)

    def create_deployment(self, ref: str, environment: str, description: str, payload: dict[str, Any]) -> int:
        body = {
            "ref": ref,
            "environment": environment,
            "description": description[:140],
            "auto_merge": False,
            "required_contexts": [],
            "payload": payload,
            "production_environment": environment == "production",
        }
        created = _check(self.gh.request("POST", "/deployments", json=body), "creating a deployment", (201,))
        return int(created["id"])

    def deployment_status(self, deployment_id: int, state: str, **fields: str) -> None:
        body = {"state": state, **{k: v for k, v in fields.items() if v}}
        _check(
            self.gh.request("POST", f"/deployments/{deployment_id}/statuses", json=body),
            f"setting deployment {deployment_id} to {state}",
            (201,),
        )

    def environment(self, name: str) -> dict[str, Any] | None:
        answer = self.gh.get(f"/environments/{name}")
        if answer.status == 404:
            return None
        body: dict[str, Any] = _check(answer, f"environment {name}")
        return body
