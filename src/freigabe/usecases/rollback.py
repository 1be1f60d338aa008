"""Manual rollback: plan a switch back to an earlier good release."""

from __future__ import annotations

from freigabe.adapters.target import is_fleet, open_target
from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan
from freigabe.core.releases import previous_good
from freigabe.engine.session import target_entries
from freigabe.errors import UsageError
from freigabe.usecases.migrations import rollback_warning
from freigabe.usecases.placeholders import resolved_config
from freigabe.usecases.planning import make_rollback_plan
from freigabe.usecases.status import list_releases, read_marks


def plan_rollback(loaded: LoadedConfig, env_name: str, to: str | None = None, hosts: list[str] | None = None) -> Plan:
    if is_fleet(loaded, env_name):
        from freigabe.usecases.fleet_plan import switch_plan

        return switch_plan(loaded, env_name, "rollback", hosts, to)
    if hosts:
        raise UsageError(f"--hosts applies to fleets; {env_name} has one host")
    target = open_target(loaded, env_name)
    try:
        releases = list_releases(target)
        current = target.current()
        marks = {k: v.get("mark", "") for k, v in read_marks(target).items()}
        config = resolved_config(loaded, env_name, target.transport)
        entries = target_entries(loaded, target)
    finally:
        target.close()
    if to is None:
        to = previous_good(releases, marks, current)
        if to is None:
            raise UsageError(
                f"{env_name} has no earlier release marked good to roll back to; name one with --to "
                "(`freigabe status` lists them)"
            )
    if to not in releases:
        raise UsageError(f"release {to} is not on {env_name}; `freigabe status {env_name}` lists them")
    if to == current:
        raise UsageError(f"release {to} is already live on {env_name}; nothing to roll back")
    if marks.get(to) == "bad":
        raise UsageError(f"release {to} is marked bad on {env_name}; pick a good one with --to")
    plan = make_rollback_plan(loaded, env_name, to, current, config)
    schema = rollback_warning(entries, to, env_name)  # code goes back, the schema does not
    return plan.model_copy(update={"warnings": [*plan.warnings, schema]}) if schema else plan
