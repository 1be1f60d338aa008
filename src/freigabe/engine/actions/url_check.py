"""url.check: the environment answers, and the live release passes its checks with the deploy's credentials."""

from __future__ import annotations

import httpx

from freigabe.adapters import health, http_client
from freigabe.core.plan import Step
from freigabe.core.steps import UrlCheck
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: UrlCheck) -> Outcome:
    url = args.url
    try:
        response = http_client.get(url, timeout=10.0, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Outcome(
            False,
            f"{url} does not answer ({type(exc).__name__}); start the web server or fix `url` in freigabe.toml",
        )
    status = response.status_code
    if status >= 500 and args.had_release:
        return Outcome(False, f"{url} answers HTTP {status}: the live site is already failing", {"status": status})
    checks, unhealthy = [], []
    for check in args.health:
        result = health.run_health_check(check.data(), sleep=ctx.sleep)
        checks.append(result.to_json())
        if result.ok:
            continue
        if result.attempts and result.attempts[-1].status in (401, 403):
            return Outcome(
                False,
                f"the live release refuses the credentials of health check {result.name} "
                f"before the deploy ({result.reason}); the checks after the switch would fail "
                "the same way — make the token in this shell match the target's .env",
                {"status": status, "health": checks},
            )
        unhealthy.append(f"{result.name} ({result.reason})")
    details = {"status": status, "health": checks, "live_release_healthy": not unhealthy}
    if unhealthy:
        # A broken site must stay deployable: the fix is this deploy. Say so loudly.
        warning = (
            f"the live release is already unhealthy: {', '.join(unhealthy)}; a rollback would "
            "return to it and could not be verified"
        )
        return Outcome(True, f"HTTP {status}; warning: {warning}", details, warning=warning)
    passed = f", live release healthy ({plural(len(checks), 'check')})" if checks else ""
    return Outcome(True, f"HTTP {status}{passed}", details)
