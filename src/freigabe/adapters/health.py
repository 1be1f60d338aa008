"""HTTP checks: health with retry, the release probe, and the asset check.

Credentials are named by environment variable in the config and read here; they are
sent, never returned: results carry status codes and short reasons only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from freigabe.adapters import http_client
from freigabe.core.urls import resolve_url, same_origin
from freigabe.core.words import plural
from freigabe.errors import UsageError


@dataclass(frozen=True)
class Credentials:
    bearer_token_env: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password_env: str | None = None
    origin: str | None = None  # the environment's URL: credentials go to its origin and nowhere else

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Credentials:
        return cls(
            args.get("bearer_token_env"),
            args.get("basic_auth_user"),
            args.get("basic_auth_password_env"),
            args.get("origin") or None,
        )

    def env_names(self) -> list[str]:
        return [n for n in (self.bearer_token_env, self.basic_auth_password_env) if n]

    def missing(self) -> list[str]:
        return [name for name in self.env_names() if not os.environ.get(name)]

    def apply(self, url: str) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        """Headers and auth for one request to `url`: none unless `url` is on the environment's
        origin. Basic auth and a bearer token can go together (nginx basic auth in front of the
        app's token), so the token then travels in `X-Health-Token` as well."""
        if self.origin and not same_origin(url, self.origin):
            return {}, None
        missing = self.missing()
        if missing:
            raise UsageError(
                f"environment variable {missing[0]} is not set; export it (it holds a secret "
                "named in freigabe.toml) and run again"
            )
        headers: dict[str, str] = {}
        auth = None
        if self.basic_auth_user and self.basic_auth_password_env:
            auth = httpx.BasicAuth(self.basic_auth_user, os.environ[self.basic_auth_password_env])
        if self.bearer_token_env:
            token = os.environ[self.bearer_token_env]
            if auth is None:
                headers["Authorization"] = f"Bearer {token}"
            headers["X-Health-Token"] = token
        return headers, auth


@dataclass
class Attempt:
    number: int
    status: int | None
    ok: bool
    reason: str
    seconds: float


@dataclass
class CheckResult:
    name: str
    url: str
    ok: bool
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return self.attempts[-1].reason if self.attempts else "not run"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "ok": self.ok,
            "attempts": [asdict(a) for a in self.attempts],
        }


def _json_matches(expected: dict[str, Any], actual: Any) -> str | None:
    if not isinstance(actual, dict):
        return "the body is not a JSON object"
    for key, want in expected.items():
        have = actual.get(key)
        if isinstance(want, dict):
            problem = _json_matches(want, have)
            if problem:
                return f"{key}.{problem}"
        elif have != want:
            return f"{key} is {json.dumps(have)}, expected {json.dumps(want)}"
    return None


def _judge(response: httpx.Response, args: dict[str, Any]) -> tuple[bool, str]:
    expected = int(args.get("expect_status", 200))
    if response.status_code != expected:
        reason = f"HTTP {response.status_code}, expected {expected}"
        if response.status_code in (401, 403):
            reason += " (credentials refused: check the token or basic auth)"
        return False, reason
    if args.get("expect_json") is not None:
        try:
            body = response.json()
        except ValueError:
            return False, f"HTTP {response.status_code} but the body is not JSON"
        problem = _json_matches(args["expect_json"], body)
        if problem:
            return False, f"HTTP {response.status_code} but {problem}"
    if args.get("body_contains") and args["body_contains"] not in response.text:
        return False, f"HTTP {response.status_code} but the body lacks the expected text"
    return True, f"HTTP {response.status_code}"


def _request(client: httpx.Client, url: str, creds: Credentials, timeout: float) -> httpx.Response:
    headers, auth = creds.apply(url)
    return client.get(url, headers=headers, auth=auth, timeout=timeout)


def _failure_reason(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (timeout)"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    return f"request failed: {type(exc).__name__}"


def run_health_check(
    args: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> CheckResult:
    """Try up to `attempts` times, `interval` apart; pass on the first good answer."""
    url = args["url"]
    creds = Credentials.from_args(args)
    timeout = float(args.get("timeout", 5.0))
    attempts = int(args.get("attempts", 1))
    result = CheckResult(args.get("name", url), url, ok=False)
    with http_client.client(follow_redirects=False) as client:
        for number in range(1, attempts + 1):
            started = time.monotonic()
            try:
                response = _request(client, url, creds, timeout)
                ok, reason = _judge(response, args)
                status: int | None = response.status_code
            except httpx.HTTPError as exc:
                ok, reason, status = False, _failure_reason(exc, timeout), None
            attempt = Attempt(number, status, ok, reason, round(time.monotonic() - started, 3))
            result.attempts.append(attempt)
            if on_attempt:
                on_attempt(attempt)
            if ok:
                result.ok = True
                break
            if number < attempts:
                sleep(float(args.get("interval", 5.0)))
    return result


def probe_release(args: dict[str, Any], timeout: float = 5.0) -> tuple[str | None, str]:
    """Ask the release probe which release answers. Returns (release or None, detail)."""
    creds = Credentials.from_args(args)
    try:
        with http_client.client(follow_redirects=False) as client:
            response = _request(client, args["url"], creds, timeout)
    except httpx.HTTPError as exc:
        return None, _failure_reason(exc, timeout)
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}"
    source = args.get("source", "body")
    if source == "header":
        value = response.headers.get(args.get("header", "X-Release"))
    elif source == "json":
        try:
            value = response.json().get(args.get("json_key", "release"))
        except (ValueError, AttributeError):
            return None, "the probe's body is not a JSON object"
    else:
        value = response.text.strip()
    return (str(value) if value else None), "HTTP 200"


def manifest_files(manifest: Any) -> list[str]:
    """Every file a Vite manifest references: entries, their CSS and their assets."""
    if not isinstance(manifest, dict):
        raise ValueError("the manifest is not a JSON object")
    files: list[str] = []
    for key, chunk in manifest.items():
        if not isinstance(chunk, dict) or not isinstance(chunk.get("file"), str):
            raise ValueError(f"manifest entry {key!r} has no 'file'")
        for name in [chunk["file"], *chunk.get("css", []), *chunk.get("assets", [])]:
            if isinstance(name, str) and name not in files:
                files.append(name)
    return files


@dataclass
class AssetReport:
    ok: bool
    manifest_url: str | None
    checked: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""

    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checked if not c["ok"]]


def check_assets(args: dict[str, Any]) -> AssetReport:
    creds = Credentials.from_args(args)
    timeout = float(args.get("timeout", 10.0))
    manifest_url = args.get("manifest_url")
    report = AssetReport(ok=False, manifest_url=manifest_url)
    urls: list[str] = list(args.get("extra_urls", []))
    with http_client.client(follow_redirects=False) as client:
        if manifest_url:
            try:
                response = _request(client, manifest_url, creds, timeout)
            except httpx.HTTPError as exc:
                report.problem = f"manifest {manifest_url}: {_failure_reason(exc, timeout)}"
                return report
            if response.status_code != 200:
                report.problem = f"manifest {manifest_url} answered HTTP {response.status_code}"
                return report
            try:
                files = manifest_files(response.json())
            except ValueError as exc:
                report.problem = f"manifest {manifest_url} is not a valid Vite manifest: {exc}"
                return report
            base = args.get("base_url", "")
            urls = [resolve_url(base, name) for name in files] + urls
        for url in urls:
            if creds.origin and not same_origin(url, creds.origin):
                # The bundle decides what its manifest names: an asset elsewhere is not this site's.
                report.checked.append(
                    {"url": url, "status": None, "ok": False, "reason": "outside the environment's origin"}
                )
                continue
            try:
                response = _request(client, url, creds, timeout)
                report.checked.append({"url": url, "status": response.status_code, "ok": response.status_code == 200})
            except httpx.HTTPError as exc:
                report.checked.append(
                    {"url": url, "status": None, "ok": False, "reason": _failure_reason(exc, timeout)}
                )
    failures = report.failures()
    report.ok = not failures
    if failures:
        first = failures[0]
        report.problem = (
            f"{len(failures)} of {plural(len(report.checked), 'asset')} not served "
            f"(first: {first['url']} → {first['status'] or first.get('reason')})"
        )
    return report
