"""`freigabe recover ENV`: resolve a live release that a stopped run left unverified.

The ledger names the run that switched to it and the release that was live before. The
recover plan checks the live release exactly as the deploy would have (readiness, health,
assets) and marks it good; if it fails, the plan's rollback steps return to the release
that was live before that run, and verify it.
"""

from __future__ import annotations

from freigabe.adapters.target import is_fleet, open_target
from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan
from freigabe.core.runs import live_state
from freigabe.engine.session import target_entries
from freigabe.errors import UsageError
from freigabe.usecases.placeholders import resolved_config
from freigabe.usecases.planning import make_recover_plan
from freigabe.usecases.status import read_marks


def plan_recover(loaded: LoadedConfig, env_name: str, hosts: list[str] | None = None) -> Plan:
    if is_fleet(loaded, env_name):
        from freigabe.usecases.fleet_plan import recover_plan

        return recover_plan(loaded, env_name, hosts)
    if hosts:
        raise UsageError(f"--hosts applies to fleets; {env_name} has one host")
    with open_target(loaded, env_name) as target:
        current = target.current()
        state = live_state(target_entries(loaded, target), current)
        marks = {k: v.get("mark", "") for k, v in read_marks(target).items()}
        config = resolved_config(loaded, env_name, target.transport)
    if current is None:
        raise UsageError(f"nothing is live on {env_name}; there is nothing to recover — deploy instead")
    if not state.known:
        raise UsageError(
            f"{current} on {env_name} was not made live by freigabe; there is no run to recover — "
            f"deploy a release, or `freigabe rollback {env_name} --to RELEASE`"
        )
    if state.verified:
        raise UsageError(f"{current} on {env_name} is verified ({state.reason}); there is nothing to recover")
    # Where to go if the live release fails: the release live before that run, unless that is
    # the live release itself (the run's own rollback was what got stopped) or it is marked bad.
    fallback = state.previous if state.previous not in (None, current) else None
    if fallback is not None and marks.get(fallback) == "bad":
        fallback = None
    return make_recover_plan(loaded, env_name, current, fallback, config)
