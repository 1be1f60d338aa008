"""The deployment pipeline of the reference plan, as data.

`deploy_steps` and `rollback_steps` are pure: config + bundle + what is live → steps.
The `source` of each step names the reference plan's SOLL step it implements.
"""

from __future__ import annotations

from typing import Any

from freigabe.config.models import Config, EnvironmentConfig, HealthCheck, ReleaseProbe
from freigabe.core import steps as a
from freigabe.core.environments import is_production
from freigabe.core.layout import Layout
from freigabe.core.migrations import MigrationFacts
from freigabe.core.plan import BundleRef, OnFailure, Step
from freigabe.core.urls import resolve_url
from freigabe.core.words import plural


def _creds(source: Any, env: EnvironmentConfig) -> dict[str, Any]:
    return {
        "bearer_token_env": source.bearer_token_env,
        "basic_auth_user": source.basic_auth_user,
        "basic_auth_password_env": source.basic_auth_password_env,
        "origin": env.url,
    }


def _command_steps(
    prefix: str,
    commands: list[list[str]],
    *,
    title: str,
    cwd: str,
    timeout: float,
    on_failure: OnFailure,
    why: str,
    source: str,
    phase: Any = "pre_switch",
    expected: float = 5.0,
) -> list[Step]:
    return [
        Step(
            id=f"{prefix}.{index}",
            title=f"{title}: {' '.join(argv)}",
            action="command",
            args=a.Command(argv=argv, cwd=cwd, timeout=timeout).data(),
            why=why,
            source=source,
            expected_seconds=expected,
            on_failure=on_failure,
            phase=phase,
        )
        for index, argv in enumerate(commands, start=1)
    ]


def _mark_step(step_id: str, release: str, mark: Any, *, source: str, why: str) -> Step:
    return Step(
        id=step_id,
        title=f"Mark {release} {mark}",
        action="release.mark",
        args=a.ReleaseMark(release=release, mark=mark).data(),
        why=why,
        source=source,
        expected_seconds=0.1,
        on_failure="warn",
        phase="finish",
    )


def health_args(env: EnvironmentConfig, check: HealthCheck) -> a.HealthCheck:
    return a.HealthCheck(
        name=check.name,
        url=resolve_url(env.url, check.url),
        expect_status=check.expect_status,
        expect_json=check.expect_json,
        body_contains=check.body_contains,
        attempts=check.attempts,
        interval=check.interval,
        timeout=check.timeout,
        **_creds(check, env),
    )


def health_step_args(env: EnvironmentConfig, check: HealthCheck) -> dict[str, Any]:
    return health_args(env, check).data()


def readiness_args(env: EnvironmentConfig, expect_release: str) -> dict[str, Any]:
    ready = env.readiness
    probe: ReleaseProbe | None = ready.probe
    return a.WaitReady(
        grace=ready.grace,
        timeout=ready.timeout,
        interval=ready.interval,
        missing_after=ready.probe_missing_after,
        expect_release=expect_release,
        probe=None
        if probe is None
        else a.Probe(
            url=resolve_url(env.url, probe.url),
            source=probe.source,
            header=probe.header,
            json_key=probe.json_key,
            **_creds(probe, env),
        ),
    ).data()


def _verify_steps(env: EnvironmentConfig, release: str, prefix: str, on_failure: OnFailure) -> list[Step]:
    steps = [
        Step(
            id=f"{prefix}readiness",
            title=(
                f"Readiness: poll {env.readiness.probe.url} until {release} answers (up to {env.readiness.timeout:g} s)"
                if env.readiness.probe
                else f"Readiness: wait {env.readiness.grace:g} s (no release probe to prove {release} answers)"
            ),
            action="wait.ready",
            args=readiness_args(env, release),
            why="Health is only meaningful once the new release is the one answering: the probe proves it, "
            "so no fixed grace period is paid; the grace applies only where there is no probe.",
            source="SOLL 15",
            expected_seconds=1.0 if env.readiness.probe else max(env.readiness.grace, 1.0),
            on_failure=on_failure,
            phase="post_switch",
        )
    ]
    for check in env.health:
        args = health_step_args(env, check)
        steps.append(
            Step(
                id=f"{prefix}health.{check.name}",
                title=f"Health check {check.name}: {args['url']} → {check.expect_status} "
                f"({check.attempts} × {check.interval:g} s)",
                action="health.check",
                args=args,
                why="The live release must answer correctly; retries absorb warm-up, not errors.",
                source="SOLL 16",
                expected_seconds=check.timeout,
                on_failure=on_failure,
                phase="post_switch",
            )
        )
    return steps


def gate_command_steps(config: Config, env_name: str, cwd: str) -> list[Step]:
    """The layer-2 gate commands, plus layer 3 where it applies: one definition for the deploy
    and the pre-flight, so the pre-flight checks exactly what the deploy will check."""
    env, gates = config.environment(env_name), config.gates
    steps = _command_steps(
        "gate.layer2.command",
        gates.commands,
        title="Layer-2 gate",
        cwd=cwd,
        timeout=gates.command_timeout,
        on_failure="abort",
        why="The release must load and boot before it may go live.",
        source="SOLL 9",
    )
    if is_production(env_name, env, config.policy):  # layer 3 guards production
        steps += _command_steps(
            "gate.layer3.command",
            gates.production_commands,
            title="Layer-3 gate",
            cwd=cwd,
            timeout=gates.command_timeout,
            on_failure="abort",
            why="Production also requires the configuration to cache.",
            source="SOLL 20",
        )
    return steps


def deploy_steps(
    config: Config,
    env_name: str,
    bundle: BundleRef,
    release: str,
    run_stamp: str,
    previous_release: str | None,
    migrations: MigrationFacts | None = None,
    web: bool = True,
) -> list[Step]:
    """`web`: the host serves HTTP (a fleet's worker or migrate-only host does not: it gets no
    URL or health checks, only the switch read back)."""
    env = config.environment(env_name)
    layout = Layout(env.deploy_path)
    rel_dir = layout.release(release)
    deploy = config.deploy
    gates = config.gates
    remote_bundle = f"{layout.bundles}/{bundle.name}"
    reload_cmds = _reload_commands(config, env)
    reload_policy = env.on_reload_failure or deploy.on_reload_failure
    steps: list[Step] = [
        Step(
            id="target.check",
            title=f"Target reachable, {env.deploy_path} writable, free space for the release",
            action="target.check",
            args=a.TargetCheck(deploy_path=env.deploy_path, needs_bytes=bundle.size + bundle.unpacked_size).data(),
            why="Stop before anything changes when the target cannot take a release.",
            source="SOLL 5",
            expected_seconds=1,
        ),
    ]
    if web:
        steps.append(
            Step(
                id="url.check",
                title=f"Environment URL answers: {env.url}"
                + (f"; the live release passes {plural(len(env.health), 'health check')}" if previous_release else ""),
                action="url.check",
                # Pre-deploy health (SOLL 5): with the same credentials as after the switch,
                # so a wrong or missing token stops the deploy before anything changes.
                args=a.UrlCheck(
                    url=env.url,
                    had_release=previous_release is not None,
                    health=[health_args(env, check) for check in env.health] if previous_release else [],
                ).data(),
                why="An unreachable site, or credentials it refuses, would make the checks after the "
                "switch fail; an already unhealthy live release is reported (the fix must stay deployable).",
                source="SOLL 5",
                expected_seconds=2,
            )
        )
    backup = env.backup
    backup_dir = f"{backup.dir or layout.default_backups()}/{run_stamp}"
    if backup.enabled:
        steps.append(
            Step(
                id="backup.create",
                title="Backup: app files" + (" + database dump" if backup.db_dump else "") + " + SHA256SUMS",
                action="backup.create",
                args=a.BackupCreate(
                    dir=backup_dir,
                    root=env.deploy_path,
                    exclude=[
                        "./releases",
                        "./current",
                        "./.freigabe",
                        *(["./backups"] if backup.dir is None else []),
                        *backup.exclude,
                    ],
                    db_dump=backup.db_dump,
                    files=list(backup.files),
                    keep=backup.keep,
                    best_effort=backup.best_effort,
                    timeout=backup.timeout,
                ).data(),
                why="A way back for data and shared files exists before migrations touch them.",
                source="SOLL 6",
                expected_seconds=30,
                on_failure="warn" if backup.best_effort else "abort",
            )
        )
    steps += [
        Step(
            id="bundle.upload",
            title=f"Stream {bundle.name} to the target: hashed, kept and unpacked into a hidden folder at once",
            action="bundle.upload",
            args=a.BundleUpload(
                name=bundle.name, remote=remote_bundle, sha256=bundle.sha256, into=layout.partial(release)
            ).data(),
            why="The target deploys exactly the bundle that was built and approved; nothing of it is visible yet.",
            source="SOLL 7-8",
            expected_seconds=max(1.0, bundle.size / 50e6),
        ),
        Step(
            id="bundle.verify",
            title=f"Verify SHA-256 on the target: {bundle.sha256[:16]}…",
            action="bundle.verify",
            args=a.BundleVerify(remote=remote_bundle, sha256=bundle.sha256).data(),
            why="A damaged or swapped bundle is refused, and its unpacked copy removed, before anything is visible.",
            source="SOLL 7",
            expected_seconds=1,
        ),
        Step(
            id="release.extract",
            title=f"Members as checked, then into {rel_dir} + file manifest",
            action="release.extract",
            args=a.ReleaseExtract(
                bundle=remote_bundle,
                release=release,
                release_dir=rel_dir,
                partial_dir=layout.partial(release),
                manifest=layout.manifest(release),
                revision_file=deploy.revision_file,
                shared=[*deploy.shared_files, *deploy.shared_dirs],
            ).data(),
            why="A release appears under releases/ only when it is complete.",
            source="SOLL 8",
            expected_seconds=max(2.0, bundle.size / 30e6),
        ),
        Step(
            id="shared.link",
            title="Link shared files and directories from shared/",
            action="shared.link",
            args=a.SharedLink(
                release_dir=rel_dir,
                shared_dir=layout.shared,
                files=list(deploy.shared_files),
                dirs=list(deploy.shared_dirs),
                create_dirs=list(deploy.create_shared_dirs),
            ).data(),
            why=".env and storage/ outlive releases; missing cache dirs break migrations.",
            source="SOLL 8",
            expected_seconds=1,
        ),
        Step(
            id="gate.layer2.files",
            title=f"Layer-2 gates: {plural(len(gates.required_files), 'file')}, "
            f"{plural(len(gates.required_dirs), 'directory', 'directories')} in the release",
            action="gate.files",
            args=a.GateFiles(root=rel_dir, files=list(gates.required_files), dirs=list(gates.required_dirs)).data(),
            why="A release without public/index.php once reached production and answered 403.",
            source="SOLL 9",
            expected_seconds=1,
        ),
    ]
    steps += gate_command_steps(config, env_name, rel_dir)
    # In a fleet, once: every host is prepared first, and only the `migrate` host has these.
    steps += migration_steps(
        config, env_name, rel_dir, backup_dir if backup.enabled and backup.db_dump else None, migrations
    )
    steps += _command_steps(
        "cache.before",
        deploy.cache_before,
        title="Cache (before switch)",
        cwd=rel_dir,
        timeout=deploy.command_timeout,
        on_failure="warn",
        why="Stale cached config or routes must not go live with the new code.",
        source="SOLL 11",
        phase="finalize",
    )
    steps.append(
        Step(
            id="switch",
            title=f"Atomic switch: current → releases/{release}",
            action="switch",
            args=a.Switch(link=layout.current, target=layout.link_target(release), release=release).data(),
            why="A new link renamed over current (rename(2)): there is never a moment without one.",
            source="SOLL 12",
            expected_seconds=0.1,
            on_failure="rollback",
            phase="switch",
        )
    )
    steps += _command_steps(
        "cache.after",
        deploy.cache_after,
        title="Cache (after switch)",
        cwd=rel_dir,
        timeout=deploy.command_timeout,
        on_failure="warn",
        why="Caches built from the old release are cleared once the new one is live.",
        source="SOLL 13",
        phase="post_switch",
    )
    steps += _command_steps(
        "reload",
        reload_cmds,
        title="Reload",
        cwd=env.deploy_path,
        timeout=deploy.command_timeout,
        on_failure=reload_policy,
        why="OPcache and PHP's realpath cache keep serving the old release until a reload.",
        source="SOLL 14",
        phase="post_switch",
    )
    steps += _verification(env, release, web)
    steps += [
        Step(
            id="cleanup",
            title=f"Retention: keep {plural(env.keep_releases, 'release')} (never current or the previous good one)",
            action="cleanup",
            args=a.Cleanup(keep=env.keep_releases).data(),
            why="Old releases fill the disk; the ones a rollback needs are never removed.",
            source="Retention",
            expected_seconds=1,
            on_failure="warn",
            phase="finish",
        ),
    ]
    return steps


def migration_steps(
    config: Config, env_name: str, rel_dir: str, backup_dir: str | None, facts: MigrationFacts | None
) -> list[Step]:
    """The migrate commands, each a `migrations.run` step: once, after the backup, in the new
    release. The first carries the pending migrations and their SQL as the plan showed them."""
    env = config.environment(env_name)
    planned = (
        [
            a.PlannedMigration(
                name=m.name,
                statements=[s.sql for s in m.statements],
                kinds=[s.kind for s in m.statements],
            )
            for m in facts.pending
        ]
        if facts is not None and facts.checked
        else None
    )
    steps = []
    for index, argv in enumerate(config.deploy.migrate, start=1):
        title = f"Migrations: {' '.join(argv)}"
        if index == 1 and planned is not None:
            breaking = sum(1 for m in planned if m.breaking)
            title += f" ({len(planned)} pending" + (f", {breaking} breaking" if breaking else "") + ")"
        if backup_dir:
            title += f"; the backup {backup_dir} can undo them"
        steps.append(
            Step(
                id=f"migrate.{index}",
                title=title,
                action="migrations.run",
                args=a.MigrationsRun(
                    argv=argv,
                    cwd=rel_dir,
                    timeout=config.deploy.command_timeout,
                    status_argv=env.server.migrations_status,
                    pretend_argv=env.server.migrations_pretend if index == 1 else None,
                    planned=planned if index == 1 else None,
                    backup_dir=backup_dir,
                    require_backup=is_production(env_name, env, config.policy),
                ).data(),
                why="Schema first, after the gates and the backup; a failure stops before the switch and says "
                "which statement failed and what the schema is now.",
                source="SOLL 10",
                expected_seconds=10,
                on_failure="abort",
                phase="migrate",
            )
        )
    return steps


def _verification(env: EnvironmentConfig, release: str, web: bool = True) -> list[Step]:
    """After a switch: the release answers (readiness), is healthy, serves its assets; then it
    is marked good. A failure rolls back to the release that was live before."""
    steps = _verify_steps(env, release, "", "rollback") if web else []
    if web and (env.assets.manifest or env.assets.extra):
        steps.append(
            Step(
                id="assets.check",
                title="Assets: the manifest is valid and every file it names is served"
                + (f", plus {len(env.assets.extra)} extra paths" if env.assets.extra else ""),
                action="assets.check",
                args=a.AssetsCheck(
                    manifest_url=resolve_url(env.url, env.assets.manifest) if env.assets.manifest else None,
                    base_url=resolve_url(env.url, env.assets.base),
                    extra_urls=[resolve_url(env.url, p) for p in env.assets.extra],
                    timeout=env.assets.timeout,
                    **_creds(env.assets, env),
                ).data(),
                why="Checking only the first manifest entry once let a broken login page through.",
                source="SOLL 17",
                expected_seconds=5,
                on_failure="rollback",
                phase="post_switch",
            )
        )
    steps.append(
        _mark_step(
            "release.mark",
            release,
            "good",
            source="Evidence",
            why="Rollbacks and promotions pick releases by verified marks, never by mtime.",
        )
    )
    return steps


def recover_steps(config: Config, env_name: str, release: str, web: bool = True) -> list[Step]:
    """After an interrupted run: prove the live release answers, is healthy and serves its
    assets, exactly as the deploy would have; the plan's rollback steps run if it does not."""
    return _verification(config.environment(env_name), release, web)


def _reload_commands(config: Config, env: EnvironmentConfig) -> list[list[str]]:
    return env.reload if env.reload is not None else config.deploy.reload


def _switch_to(
    config: Config,
    env_name: str,
    release: str,
    *,
    prefix: str,
    title: str,
    on_failure: OnFailure,
    why: str,
    web: bool = True,
) -> list[Step]:
    """Switch `current` to an existing release, reload, and verify that it answers healthy."""
    env = config.environment(env_name)
    layout = Layout(env.deploy_path)
    steps = [
        Step(
            id=f"{prefix}switch",
            title=f"{title}: current → releases/{release}",
            action="switch",
            args=a.Switch(link=layout.current, target=layout.link_target(release), release=release).data(),
            why=why,
            source="SOLL 24",
            expected_seconds=0.1,
            on_failure=on_failure,
            phase="switch",
        )
    ]
    steps += _command_steps(
        f"{prefix}reload",
        _reload_commands(config, env),
        title="Reload",
        cwd=env.deploy_path,
        timeout=config.deploy.command_timeout,
        on_failure=on_failure,
        why="The restored release must be the one PHP serves.",
        source="SOLL 24",
        phase="post_switch",
    )
    return steps + (_verify_steps(env, release, prefix, on_failure) if web else [])


def rollback_steps(
    config: Config, env_name: str, failed_release: str | None, restore: str | None, web: bool = True
) -> list[Step]:
    """Switch back to `restore`, reload, verify it answers healthy, mark `failed_release` bad."""
    if restore is None:
        return []
    steps = _switch_to(
        config,
        env_name,
        restore,
        prefix="rollback.",
        title="Rollback",
        on_failure="abort",
        why="The release that was live before this deploy (recorded, not guessed by mtime).",
        web=web,
    )
    if failed_release:
        steps.append(
            _mark_step(
                "rollback.mark",
                failed_release,
                "bad",
                source="SOLL 24",
                why="A bad release is never picked again by rollback or promotion.",
            )
        )
    return steps


def restore_steps(config: Config, env_name: str, restore: str, web: bool = True) -> list[Step]:
    """A manual rollback: if the restored release does not answer healthy, the plan's
    rollback steps switch back to what was live."""
    return _switch_to(
        config,
        env_name,
        restore,
        prefix="",
        title="Atomic switch",
        on_failure="rollback",
        why="Back to a release that was verified healthy before.",
        web=web,
    )


def scratch_removal(paths: list[str]) -> Step:
    return Step(
        id="scratch.remove",
        title=f"Remove the temporary copy ({', '.join(paths)})",
        action="scratch.remove",
        args=a.ScratchRemove(paths=paths).data(),
        why="The pre-flight leaves nothing behind, whatever its outcome.",
        source="Pre-flight 6",
        on_failure="warn",
        phase="finish",
    )


def _copy_steps(config: Config, env_name: str, bundle: BundleRef, name: str) -> list[Step]:
    """The bundle uploaded, verified and extracted into `.freigabe/preflight/<name>`, shared files
    linked: a copy that is never live (removed by the caller's finally step)."""
    env = config.environment(env_name)
    layout = Layout(env.deploy_path)
    folder = f"{layout.state}/preflight/{name}"
    remote_bundle = f"{layout.bundles}/{bundle.name}"
    deploy = config.deploy
    return [
        Step(
            id="bundle.upload",
            title=f"Stream {bundle.name} to the target, unpacked into a temporary folder",
            action="bundle.upload",
            args=a.BundleUpload(
                name=bundle.name, remote=remote_bundle, sha256=bundle.sha256, into=folder + ".partial"
            ).data(),
            source="Pre-flight",
        ),
        Step(
            id="bundle.verify",
            title=f"Verify SHA-256 on the target: {bundle.sha256[:16]}…",
            action="bundle.verify",
            args=a.BundleVerify(remote=remote_bundle, sha256=bundle.sha256).data(),
            source="Pre-flight",
        ),
        Step(
            id="preflight.extract",
            title=f"Members as checked, then into {folder} (a temporary copy, never live)",
            action="release.extract",
            args=a.ReleaseExtract(
                bundle=remote_bundle,
                release=name,
                release_dir=folder,
                partial_dir=folder + ".partial",
                manifest=f"{folder}.manifest.json",
                revision_file=deploy.revision_file,
                shared=[*deploy.shared_files, *deploy.shared_dirs],
                preflight=True,
            ).data(),
            source="Pre-flight 1",
        ),
        Step(
            id="shared.link",
            title="Link shared files into the copy",
            action="shared.link",
            args=a.SharedLink(
                release_dir=folder,
                shared_dir=layout.shared,
                files=list(deploy.shared_files),
                dirs=list(deploy.shared_dirs),
            ).data(),
            source="Pre-flight 4",
        ),
    ]


def migration_inspection_steps(config: Config, env_name: str, bundle: BundleRef, name: str) -> list[Step]:
    """For the plan: the bundle in a temporary copy, and in it the pending migrations, their SQL and
    its classification. Read-only for what is live; the caller removes the copy."""
    env = config.environment(env_name)
    folder = f"{Layout(env.deploy_path).state}/preflight/{name}"
    return [*_copy_steps(config, env_name, bundle, name), pending_migrations_step(env, folder, on_failure="abort")]


def preflight_steps(config: Config, env_name: str, bundle: BundleRef, name: str) -> list[Step]:
    """Read-only pre-flight: the bundle extracted to a temporary folder on the target, layer-2 and
    layer-3 gates run there, `nginx -t`, the .env link and pending migrations checked. Nothing
    live is touched; the folder is removed afterwards by the caller."""
    env = config.environment(env_name)
    layout = Layout(env.deploy_path)
    folder = f"{layout.state}/preflight/{name}"
    deploy, gates = config.deploy, config.gates
    steps = [
        *_copy_steps(config, env_name, bundle, name),
        Step(
            id="gate.files",
            title=f"Gates: {plural(len(gates.required_files), 'file')}, {plural(len(gates.required_dirs), 'dir')}",
            action="gate.files",
            args=a.GateFiles(root=folder, files=list(gates.required_files), dirs=list(gates.required_dirs)).data(),
            source="Pre-flight 2",
        ),
    ]
    steps += gate_command_steps(config, env_name, folder)  # exactly the deploy's gates
    if env.server.nginx_test:
        steps += _command_steps(
            "nginx.test",
            [env.server.nginx_test],
            title="nginx -t",
            cwd=env.deploy_path,
            timeout=60,
            on_failure="abort",
            why="",
            source="Pre-flight 3",
        )
    if ".env" in deploy.shared_files:
        steps.append(
            Step(
                id="env.link",
                title=".env in the copy is a link into shared/",
                action="check.link",
                args=a.CheckLink(path=f"{folder}/.env", into=layout.shared).data(),
                source="Pre-flight 4",
            )
        )
    if env.server.migrations_status:
        steps.append(pending_migrations_step(env, folder, on_failure="warn"))
    return steps


def pending_migrations_step(env: EnvironmentConfig, folder: str, on_failure: OnFailure) -> Step:
    """Read-only, in a copy of the bundle: pending migrations, the SQL of each, classified."""
    server = env.server
    assert server.migrations_status is not None
    return Step(
        id="migrations.pending",
        title="Pending migrations: "
        + " ".join(server.migrations_status)
        + (f" + {' '.join(server.migrations_pretend)}" if server.migrations_pretend else ""),
        action="migrations.pending",
        args=a.MigrationsPending(
            argv=server.migrations_status,
            cwd=folder,
            timeout=120,
            pretend_argv=server.migrations_pretend,
            tables_argv=server.migrations_tables,
            dialect=server.migrations_dialect,
        ).data(),
        why="What the migrations will do to the schema the live release keeps using during the switch.",
        source="Pre-flight 5",
        on_failure=on_failure,
    )
