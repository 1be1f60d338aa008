"""A plan that works in a temporary copy of a bundle beside the releases, never live.

The pre-flight (`freigabe preflight`) and the plan's migration inspection both unpack the bundle
under `.freigabe/preflight/<name>`, run their steps there, and remove the copy however the run
ends (its finally step); `current` is never touched.
"""

from __future__ import annotations

from freigabe.config import LoadedConfig
from freigabe.core import pipeline
from freigabe.core.layout import Layout
from freigabe.core.plan import BundleRef, Plan, PlanInputs, Step


def scratch_plan(
    loaded: LoadedConfig, env_name: str, name: str, bundle: BundleRef, current: str | None, steps: list[Step]
) -> Plan:
    env = loaded.config.environment(env_name)
    folder = f"{Layout(env.deploy_path).state}/preflight/{name}"
    return Plan(
        kind="preflight",
        environment=env_name,
        target=env.targets[0],
        deploy_path=env.deploy_path,
        release=name,
        previous_release=current,
        bundle=bundle,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=bundle.sha256, current_release=current),
        approval_phrase="",
        steps=steps,
        rollback_steps=[],
        finally_steps=[pipeline.scratch_removal([folder, folder + ".partial"])],
    )
