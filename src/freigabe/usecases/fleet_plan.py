"""Plans for a fleet: one release name for every host, each host's own steps, and how they move together.

`deploy` gives every host the same release (`<stamp>-<sha8>`, one timestamp and digest); with
`--hosts` it only catches hosts up to the release the rest of the fleet serves, with the same
bundle and the same name (the migrations already ran). `rollback` and `recover` return hosts to
the fleet's release. The plan shows every host: its live release, roles, and what it will do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from freigabe.adapters.bundle import BundleInfo
from freigabe.config import LoadedConfig
from freigabe.config.models import approval_phrase
from freigabe.core import pipeline
from freigabe.core.fleet import FleetPolicy, Host, Strategy, host_config, switch_batches
from freigabe.core.layout import release_name
from freigabe.core.plan import BundleRef, HostPlan, Plan, PlanInputs
from freigabe.core.releases import previous_good
from freigabe.errors import TargetError, UsageError
from freigabe.usecases.fleet import FleetState, HostState, read_fleet


def _policy(loaded: LoadedConfig, env_name: str, hosts: list[Host], overrides: dict[str, Any]) -> FleetPolicy:
    fleet = loaded.config.environment(env_name).fleet
    strategy: Strategy = overrides.get("strategy") or fleet.strategy
    if overrides.get("wave_size") is not None:
        fleet = fleet.model_copy(update={"wave_size": overrides["wave_size"]})
    return FleetPolicy(
        strategy=strategy,
        batches=switch_batches(hosts, fleet, strategy),
        on_unreachable=overrides.get("on_unreachable") or fleet.on_unreachable,
        concurrency=fleet.concurrency,
    )


def _reachable(state: FleetState, policy_skip: bool) -> tuple[list[HostState], dict[str, str]]:
    """The hosts the plan runs on, and those it leaves out (unreachable now, under `skip`)."""
    unreachable = state.unreachable
    if unreachable and not policy_skip:
        name, why = next(iter(unreachable.items()))
        raise TargetError(
            f"host {name} of {state.environment} cannot be read ({why}); a fleet plan needs every host while "
            'on_unreachable = "abort" — bring it back, or plan with --on-unreachable skip to leave it out'
        )
    live = [h for h in state.hosts.values() if h.reachable]
    if not live:
        raise TargetError(f"no host of {state.environment} can be reached: {'; '.join(unreachable.values())}")
    for h in live:
        if h.config_error is not None:
            raise h.config_error
    return live, unreachable


def _skipped(name: str, target: str, why: str) -> HostPlan:
    return HostPlan(
        name=name,
        target=target,
        roles=[],
        does=f"left out: unreachable when the plan was made ({why}); the deploy runs without it",
        steps=[],
        rollback_steps=[],
        skip=why,
    )


def _describe(h: Host, current: str | None, release: str, batch: int, batches: int, catch_up: bool) -> str:
    parts = ["prepare"]
    if h.migrate and not catch_up:
        parts.append("migrate (once, after the backup)")
    parts.append(
        f"switch {current or '(nothing)'} → {release}" + (f" in batch {batch}/{batches}" if batches > 1 else "")
    )
    parts.append(
        f"verify at {h.url}" if h.web and h.url else ("verify" if h.web else "no HTTP checks (not a web host)")
    )
    return ", ".join(parts)


def _fleet_plan(
    loaded: LoadedConfig,
    env_name: str,
    fleet: FleetState,
    hosts: list[HostPlan],
    policy: FleetPolicy,
    *,
    kind: Literal["deploy", "rollback", "recover", "preflight"],
    release: str,
    bundle: BundleRef | None,
    sha256: str | None,
    phrase: str,
    warnings: list[str] | None = None,
    created_at: str = "",
) -> Plan:
    """The plan around a fleet's host plans: the steps are each host's, the fleet's release is
    what the plan saw live (and what makes it stale)."""
    return Plan(
        kind=kind,
        environment=env_name,
        target=f"fleet of {len(fleet.hosts)} hosts",
        deploy_path=loaded.config.environment(env_name).deploy_path,
        release=release,
        previous_release=fleet.release,
        bundle=bundle,
        inputs=PlanInputs(config_digest=loaded.digest, bundle_sha256=sha256, current_release=fleet.release),
        approval_phrase=phrase,
        steps=[],
        rollback_steps=[],
        warnings=warnings or [],
        created_at=created_at,
        hosts=hosts,
        fleet=policy,
    )


def deploy_plan(
    loaded: LoadedConfig,
    env_name: str,
    info: BundleInfo,
    bundle: BundleRef,
    when: datetime,
    wanted: list[str] | None,
    overrides: dict[str, Any],
) -> Plan:
    config = loaded.config
    env = config.environment(env_name)
    everyone = read_fleet(loaded, env_name)
    chosen = read_fleet(loaded, env_name, wanted) if wanted else everyone
    skip = (overrides.get("on_unreachable") or env.fleet.on_unreachable) == "skip"
    live, unreachable = _reachable(chosen, skip)
    release = release_name(when, info.sha)
    catch_up = bool(wanted)
    if catch_up:
        release = _catch_up_release(everyone, set(chosen.hosts), info)
    hosts = [h.host for h in live]
    if catch_up:
        hosts = [h.model_copy(update={"roles": [r for r in h.roles if r != "migrate"]}) for h in hosts]
    policy = _policy(loaded, env_name, hosts, overrides)
    batch_of = {name: i for i, batch in enumerate(policy.batches, start=1) for name in batch}
    plans = []
    for state, host in zip(live, hosts, strict=True):
        assert state.config is not None
        cfg = host_config(state.config, env_name, host, fleet=True)
        steps = pipeline.deploy_steps(
            cfg, env_name, bundle, release, when.strftime("%Y%m%d_%H%M%S"), state.current, web=host.web
        )
        plans.append(
            HostPlan(
                name=host.name,
                target=host.target,
                roles=state.host.roles,
                url=host.url,
                current_release=state.current,
                does=_describe(host, state.current, release, batch_of[host.name], len(policy.batches), catch_up),
                steps=steps,
                rollback_steps=pipeline.rollback_steps(cfg, env_name, release, state.current, web=host.web),
            )
        )
    plans += [_skipped(n, chosen.hosts[n].host.target, why) for n, why in unreachable.items()]
    previous = everyone.release
    warnings = []
    if everyone.drift:
        warnings.append(
            "the hosts serve different releases: "
            + ", ".join(f"{n} {c or 'nothing'}" for n, c in everyone.drift.items())
            + f" (the fleet: {previous or 'nothing'}); each host's rollback returns it to what it serves now"
        )
    if catch_up:
        warnings.append(
            f"catch-up: {', '.join(h.name for h in hosts)} get the fleet's release {release}; no migrations"
        )
    return _fleet_plan(
        loaded,
        env_name,
        everyone,
        plans,
        policy,
        kind="deploy",
        release=release,
        bundle=bundle,
        sha256=info.sha256,
        phrase=approval_phrase(env_name, env),
        warnings=warnings,
        created_at=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _catch_up_release(fleet: FleetState, chosen: set[str], info: BundleInfo) -> str:
    """The release the other hosts serve, if it was made from this very bundle."""
    others = {n: c for n, c in fleet.currents.items() if n not in chosen}
    releases = {c for c in others.values() if c}
    if not releases:
        raise UsageError(
            "--hosts catches hosts up to the release the rest of the fleet serves, but no other host serves one; "
            "deploy the whole fleet instead"
        )
    if len(releases) > 1:
        raise UsageError(
            f"--hosts catches hosts up to the fleet's release, but the other hosts serve different releases "
            f"({', '.join(sorted(releases))}); deploy the whole fleet instead"
        )
    release = releases.pop()
    for state in fleet.hosts.values():
        for entry in reversed(state.entries):
            data = entry.get("data", {})
            if entry.get("event") == "run.started" and data.get("release") == release and data.get("bundle"):
                if data["bundle"].get("sha256") != info.sha256:
                    raise UsageError(
                        f"the fleet serves {release}, made from {data['bundle'].get('name')}, not from {info.name}; "
                        "--hosts only catches hosts up with the same bundle — deploy the whole fleet to change it"
                    )
                return release
    raise UsageError(f"the ledger does not show which bundle made {release}; deploy the whole fleet instead")


def switch_plan(
    loaded: LoadedConfig,
    env_name: str,
    kind: str,
    wanted: list[str] | None,
    to: str | None,
) -> Plan:
    """A manual rollback (or the return of drifted hosts): every chosen host switches to one release,
    reloads, and proves it answers; a host whose target release fails goes back to what it served."""
    from freigabe.usecases.planning import rollback_phrase

    config = loaded.config
    env = config.environment(env_name)
    everyone = read_fleet(loaded, env_name)
    chosen = read_fleet(loaded, env_name, wanted) if wanted else everyone
    live, unreachable = _reachable(chosen, False)
    if to is None:
        to = _common_previous(live, wanted is not None, everyone)
    missing = [h.name for h in live if to not in h.releases]
    if missing:
        raise UsageError(f"release {to} is not on {', '.join(missing)}; `freigabe status {env_name}` lists them")
    bad = [h.name for h in live if (h.marks.get(to) or {}).get("mark") == "bad"]
    if bad:
        raise UsageError(f"release {to} is marked bad on {', '.join(bad)}; pick a good one with --to")
    moving = [h for h in live if h.current != to]
    if not moving:
        raise UsageError(f"release {to} is already live on every chosen host of {env_name}; nothing to roll back")
    hosts = [h.host for h in moving]
    policy = _policy(loaded, env_name, hosts, {"strategy": "all-at-once"})
    plans = []
    for state in moving:
        assert state.config is not None
        host = state.host
        cfg = host_config(state.config, env_name, host, fleet=True)
        plans.append(
            HostPlan(
                name=host.name,
                target=host.target,
                roles=host.roles,
                url=host.url,
                current_release=state.current,
                does=f"switch {state.current or '(nothing)'} → {to}, reload, verify"
                + (f" at {host.url}" if host.web and host.url else ""),
                steps=pipeline.restore_steps(cfg, env_name, to, web=host.web),
                rollback_steps=pipeline.rollback_steps(cfg, env_name, None, state.current, web=host.web),
            )
        )
    return _fleet_plan(
        loaded,
        env_name,
        everyone,
        plans,
        policy,
        kind="rollback",
        release=to,
        bundle=None,
        sha256=None,
        phrase=rollback_phrase(env_name, env, config.policy),
        warnings=[f"{n} is not reachable and stays as it is ({why})" for n, why in unreachable.items()],
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _common_previous(live: list[HostState], subset: bool, everyone: FleetState) -> str:
    """Where a rollback without --to goes: for chosen hosts (--hosts), the release the rest of the
    fleet serves; for the whole fleet, the newest release every host has marked good before the live one."""
    if subset:
        release = everyone.release
        if release and any(h.current != release for h in live):
            return release
    candidates = None
    for h in live:
        marks = {k: v.get("mark", "") for k, v in h.marks.items()}
        good = previous_good(h.releases, marks, h.current)
        older = {r for r in h.releases if marks.get(r) == "good" and r != h.current and (good is None or r <= good)}
        candidates = older if candidates is None else candidates & older
    if not candidates:
        raise UsageError(
            "the hosts have no earlier release marked good in common to roll back to; name one with --to "
            "(`freigabe status ENV` lists them)"
        )
    return max(candidates)


def recover_plan(loaded: LoadedConfig, env_name: str, wanted: list[str] | None) -> Plan:
    """Each chosen host (default: those whose live release was never verified): where the rest of the
    fleet serves another release, verified, it goes back to that one; otherwise its live release is
    checked as the deploy would have, and it falls back to the release before if that fails."""
    from freigabe.core.runs import live_state
    from freigabe.usecases.planning import rollback_phrase

    env = loaded.config.environment(env_name)
    everyone = read_fleet(loaded, env_name)
    chosen = read_fleet(loaded, env_name, wanted) if wanted else everyone
    live, unreachable = _reachable(chosen, True)
    states = {h.name: live_state(h.entries, h.current) for h in live}
    if not wanted:
        live = [h for h in live if states[h.name].unverified]
    if not live:
        raise UsageError(f"every reachable host of {env_name} serves a verified release; there is nothing to recover")
    others = {n: h for n, h in everyone.hosts.items() if h.reachable and n not in {x.name for x in live}}
    verified = {h.current for h in others.values() if h.current and live_state(h.entries, h.current).verified}
    fleet_release = everyone.release if everyone.release in verified else None
    plans = []
    for state in live:
        assert state.config is not None
        host = state.host
        cfg = host_config(state.config, env_name, host, fleet=True)
        current = state.current
        if current is None:
            raise UsageError(f"nothing is live on {host.name}; there is nothing to recover — deploy instead")
        if fleet_release and fleet_release != current:
            if fleet_release not in state.releases:
                raise UsageError(
                    f"{host.name} serves {current}; the fleet serves {fleet_release}, which is not on {host.name} — "
                    f"catch it up with `freigabe deploy {env_name} --hosts {host.name} --bundle BUNDLE`"
                )
            steps = pipeline.restore_steps(cfg, env_name, fleet_release, web=host.web)
            back = pipeline.rollback_steps(cfg, env_name, None, current, web=host.web)
            does = f"back to the fleet's {fleet_release} (serves {current}, unverified), reload, verify"
            ends = fleet_release
        else:
            previous = states[host.name].previous
            fallback = previous if previous not in (None, current) else None
            if fallback is not None and (state.marks.get(fallback) or {}).get("mark") == "bad":
                fallback = None
            steps = pipeline.recover_steps(cfg, env_name, current, web=host.web)
            back = pipeline.rollback_steps(cfg, env_name, current, fallback, web=host.web)
            does = f"verify {current} as the deploy would have; if it fails, back to {fallback or 'nothing'}"
            ends = current
        plans.append(
            HostPlan(
                name=host.name,
                target=host.target,
                roles=host.roles,
                url=host.url,
                current_release=current,
                does=does,
                steps=steps,
                rollback_steps=back,
                release=ends,
            )
        )
    return _fleet_plan(
        loaded,
        env_name,
        everyone,
        plans,
        _policy(loaded, env_name, [h.host for h in live], {"strategy": "all-at-once"}),
        kind="recover",
        release=fleet_release or plans[0].current_release or "",
        bundle=None,
        sha256=None,
        phrase=rollback_phrase(env_name, env, loaded.config.policy),
        warnings=[f"{n} is not reachable and stays as it is ({why})" for n, why in unreachable.items()],
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def preflight_plan(loaded: LoadedConfig, env_name: str, bundle: BundleRef, name: str, sha256: str) -> Plan:
    """The read-only pre-flight on every host of the fleet: the bundle in a temporary copy, the gates,
    `nginx -t`, the .env link and pending migrations (on the migrate host); each copy removed after."""
    from freigabe.core.layout import Layout

    env = loaded.config.environment(env_name)
    fleet = read_fleet(loaded, env_name, ledger=False)
    live, _ = _reachable(fleet, False)
    folder = f"{Layout(env.deploy_path).state}/preflight/{name}"
    plans = []
    for state in live:
        assert state.config is not None
        host = state.host
        cfg = host_config(state.config, env_name, host, fleet=True)
        steps = pipeline.preflight_steps(cfg, env_name, bundle, name)
        if not host.migrate:
            steps = [s for s in steps if s.id != "migrations.pending"]
        plans.append(
            HostPlan(
                name=host.name,
                target=host.target,
                roles=host.roles,
                url=host.url,
                current_release=state.current,
                does="pre-flight in a temporary copy (nothing is switched)",
                steps=steps,
                rollback_steps=[],
                finally_steps=[pipeline.scratch_removal([folder, folder + ".partial"])],
            )
        )
    return _fleet_plan(
        loaded,
        env_name,
        fleet,
        plans,
        _policy(loaded, env_name, [h.host for h in live], {"strategy": "all-at-once"}),
        kind="preflight",
        release=name,
        bundle=bundle,
        sha256=sha256,
        phrase="",
    )
