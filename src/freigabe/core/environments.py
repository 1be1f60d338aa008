"""Which environments are production: one definition for the gates, the decision and the phrases. Pure."""

from __future__ import annotations

from freigabe.config.models import DecisionPolicy, EnvironmentConfig


def is_production(name: str, env: EnvironmentConfig, policy: DecisionPolicy | None = None) -> bool:
    """Named in `[policy] production_environments` (default: "production"), or promoted from
    another environment: such an environment gets layer-3 gates, the production decision
    policy and `PROD-FIX FREIGEGEBEN` for manual changes."""
    names = policy.production_environments if policy else ["production"]
    return name in names or env.promotion is not None
