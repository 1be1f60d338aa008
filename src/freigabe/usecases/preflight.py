"""Pre-flight (read-only for what is live): the bundle checked in a temporary copy on the target.

Extract to `.freigabe/preflight/<stamp>`, link shared files, run the layer-2 and layer-3 gates
there (layer 3 is `php artisan config:cache` for Laravel: it writes into the copy only), run
`nginx -t`, check the `.env` link and list pending migrations; then remove the copy. Nothing is
switched. Runs under the deploy lock so it never races a deploy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from freigabe.adapters.bundle import PREFIX, SUFFIX, scan_verified_bundle, verify_local_bundle
from freigabe.adapters.target import is_fleet, open_target
from freigabe.config import LoadedConfig
from freigabe.core import pipeline
from freigabe.engine.outcome import Reporter, RunResult
from freigabe.engine.session import run_plan
from freigabe.errors import UsageError
from freigabe.interrupts import InterruptGuard
from freigabe.usecases.apply import redactor_for
from freigabe.usecases.planning import bundle_ref, scan_cache
from freigabe.usecases.scratch import scratch_plan


def default_bundle(loaded: LoadedConfig, env_name: str) -> Path:
    """For a promoted environment, the bundle live on its source (once that is stable); for any
    other environment, the newest bundle `freigabe build` wrote."""
    env = loaded.config.environment(env_name)
    if env.promotion is not None:
        from freigabe.usecases.promote import check_stability, find_bundle

        return find_bundle(loaded, check_stability(loaded, env_name).bundle)
    folder = loaded.root / loaded.config.build.output_dir
    built = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not built:
        raise UsageError(f"no bundle in {folder}; build one with `freigabe build` or pass --bundle PATH")
    return built[-1]


def run_preflight(
    loaded: LoadedConfig, env_name: str, bundle_path: Path, reporter: Reporter | None = None
) -> RunResult:
    info = verify_local_bundle(bundle_path)
    scan = scan_verified_bundle(bundle_path, info.sha256, scan_cache(loaded), loaded.config.build.allow_secrets)
    loaded.config.environment(env_name)  # an unknown environment is refused before anything runs
    name = f"preflight-{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}-{info.sha[:8]}"
    bundle = bundle_ref(info, scan, bundle_path)
    if is_fleet(loaded, env_name):  # fleets (issue 12): every host, each in its own temporary copy
        from freigabe.usecases.fleet_plan import preflight_plan

        fleet_plan = preflight_plan(loaded, env_name, bundle, name, info.sha256)
        with InterruptGuard():
            return run_plan(
                loaded,
                fleet_plan,
                redactor=redactor_for(fleet_plan),
                reporter=reporter,
                bundle_path=bundle_path,
                scan=scan,
            )
    with open_target(loaded, env_name) as target:
        current = target.current()
    plan = scratch_plan(
        loaded, env_name, name, bundle, current, pipeline.preflight_steps(loaded.config, env_name, bundle, name)
    )
    with InterruptGuard():
        return run_plan(
            loaded, plan, redactor=redactor_for(plan), reporter=reporter, bundle_path=bundle_path, scan=scan
        )
