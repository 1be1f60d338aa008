"""End to end on local targets served by a real HTTP server on 127.0.0.1.

Every failure case checks the message, the documented exit code, and that the web
server still answers with the release that was live before.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from freigabe.errors import ExitCode

from .conftest import TOKEN, CliResult, Project, tree_snapshot
from .support.needs import need


def test_good_deploy_serves_the_new_release(deployed: Project) -> None:
    live = deployed.current()
    assert live is not None and deployed.served() == live
    v2 = deployed.build("v2")
    result = deployed.deploy("staging", v2.path)
    assert result.exit_code == 0, result.output
    assert deployed.current() != live
    assert deployed.served() == deployed.current()
    assert "v2" in deployed.served_version()
    # shared files are links into shared/, the release manifest and the mark are recorded
    current = deployed.current()
    assert current is not None
    release = deployed.deploy_path() / "releases" / current
    assert os.readlink(release / ".env") == str(deployed.deploy_path() / "shared" / ".env")
    manifest = json.loads((deployed.deploy_path() / ".freigabe/manifests" / f"{deployed.current()}.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {"manage.py", "public/index.html"}
    mark = json.loads((deployed.deploy_path() / ".freigabe/marks" / f"{deployed.current()}.json").read_text())
    assert mark["mark"] == "good"
    # the migration really ran against the shared SQLite database
    import sqlite3

    rows = (
        sqlite3.connect(deployed.deploy_path() / "shared/storage/database.sqlite")
        .execute("select name from products")
        .fetchall()
    )
    assert rows == [("coffee",), ("tea",)]


def test_backup_has_checksums_and_excludes_releases(deployed: Project) -> None:
    backups = sorted((deployed.deploy_path() / "backups").iterdir())
    assert backups
    last = backups[-1]
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=last, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    listing = subprocess.run(["tar", "-tzf", str(last / "app.tar.gz")], capture_output=True, text=True)
    names = listing.stdout.splitlines()
    assert any(n.startswith("./shared/") for n in names)
    assert not any(n.startswith(("./releases", "./backups", "./current", "./.freigabe")) for n in names)


def _assert_rolled_back(project: Project, result: CliResult, live: str | None, fragment: str) -> None:
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert fragment in result.output
    assert "rolled back to" in result.output and "verified" in result.output
    assert project.current() == live
    assert project.served() == live
    assert "v1" in project.served_version()
    bad = [
        p for p in (project.deploy_path() / ".freigabe/marks").iterdir() if json.loads(p.read_text())["mark"] == "bad"
    ]
    assert len(bad) == 1


def test_health_500_rolls_back(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, "HTTP 500, expected 200")


def test_health_unhealthy_body_rolls_back(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", healthy=False)
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, 'status is "failing"')


def test_health_timeout_rolls_back(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", respond={"/health": {"delay": 1.6}})
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, "timeout")


def test_wrong_ci_token_stops_before_anything_changes(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CI secret differs from the server's .env: the pre-deploy health check gets 401."""
    live = deployed.current()
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    releases_before = sorted((deployed.deploy_path() / "releases").iterdir())
    monkeypatch.setenv("HEALTHCHECK_TOKEN", "a-different-token-than-the-servers")
    result = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    _assert_untouched(deployed, result, live, ExitCode.TARGET, "HTTP 401")
    assert "before the deploy" in result.output
    assert "a-different-token" not in result.output
    assert sorted((deployed.deploy_path() / "releases").iterdir()) == releases_before


def test_release_answering_401_rolls_back(deployed: Project) -> None:
    """The release itself refuses the token (env() null after config:cache): roll back."""
    live = deployed.current()
    bundle = deployed.build("v2", respond={"/health": {"status": 401}})
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, "HTTP 401")


def test_asset_missing_from_second_manifest_entry_rolls_back(deployed: Project) -> None:
    """Checking only the first manifest entry once let a broken login page through."""
    live = deployed.current()
    deployed.write("v2")
    deployed.app.joinpath("resources", "panel.css").write_text("body{}")
    from freigabe.usecases.build import build

    bundle = build(deployed.loaded(), sha="99v2".ljust(40, "0")).bundle
    # drop the *last* asset from the bundle's tree by scripting a 404 for it
    manifest = json.loads((deployed.app / "public/build/manifest.json").read_text())
    files = [v["file"] for v in manifest.values()]
    assert len(files) == 3
    deployed.app.joinpath("public", "_respond.json").write_text(json.dumps({f"/build/{files[-1]}": {"status": 404}}))
    bundle = build(deployed.loaded(), sha="98v2".ljust(40, "0")).bundle
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, f"/build/{files[-1]}")
    assert "1 of 3 assets not served" in result.output


def test_invalid_manifest_rolls_back(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", respond={"/build/manifest.json": {"status": 500}})
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, "manifest")


def _assert_untouched(project: Project, result: CliResult, live: str | None, code: ExitCode, fragment: str) -> None:
    assert result.exit_code == code, result.output
    assert fragment in result.output, result.output
    assert project.current() == live
    assert project.served() == live
    assert "v1" in project.served_version()
    assert "Traceback" not in result.output


def test_failing_gate_command_aborts_before_switch(deployed: Project) -> None:
    live = deployed.current()
    deployed.write("v2")
    manage = deployed.app / "manage.py"
    manage.write_text(manage.read_text().replace('print("boot ok")', 'sys.exit("boot failed")'))
    from freigabe.usecases.build import build

    bundle = build(deployed.loaded(), sha="77v2".ljust(40, "0")).bundle
    result = deployed.deploy("staging", bundle.path)
    _assert_untouched(deployed, result, live, ExitCode.GATE, "boot failed")
    assert "nothing live was changed" in result.output


def test_failing_migration_aborts_before_switch(deployed: Project) -> None:
    live = deployed.current()
    deployed.write("v2")
    (deployed.app / "migrations" / "002_broken.sql").write_text("alter table nope add column x;\n")
    from freigabe.usecases.build import build

    bundle = build(deployed.loaded(), sha="66v2".ljust(40, "0")).bundle
    result = deployed.deploy("staging", bundle.path)
    _assert_untouched(deployed, result, live, ExitCode.GATE, "migrate")
    # the unfinished release is kept for diagnosis and marked bad
    marks = {p.stem: json.loads(p.read_text())["mark"] for p in (deployed.deploy_path() / ".freigabe/marks").iterdir()}
    assert sorted(marks.values()) == ["bad", "good"]


def test_missing_shared_file_aborts(deployed: Project) -> None:
    live = deployed.current()
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace('shared_files = [".env"]', 'shared_files = [".env", "auth.json"]'))
    bundle = deployed.build("v2")
    result = deployed.deploy("staging", bundle.path)
    _assert_untouched(deployed, result, live, ExitCode.GATE, "shared file auth.json is missing")


def test_missing_required_file_fails_the_build_and_writes_no_bundle(project: Project) -> None:
    project.write("v1", drop=("public/index.html",))
    result = project.cli("build", "--sha", "deadbeef")
    assert result.exit_code == ExitCode.GATE, result.output
    assert "layer-1 gate failed: the bundle would lack public/index.html" in result.output
    assert not list((project.root / "dist").glob("*deadbeef*"))


def test_layer1_gate_at_plan_time_for_a_foreign_bundle(deployed: Project, tmp_path: Path) -> None:
    live = deployed.current()
    bundle = tmp_path / "deployment-bundle-abc.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        tar.add(deployed.app / "manage.py", arcname="manage.py")
    subprocess.run(f"sha256sum {bundle.name} > {bundle.name}.sha256", shell=True, cwd=tmp_path, check=True)
    result = deployed.cli("plan", "staging", "--bundle", str(bundle))
    _assert_untouched(deployed, result, live, ExitCode.GATE, "lacks VERSION")


def test_digest_mismatch_is_refused(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    with open(bundle.path, "ab") as fh:
        fh.write(b"tampered")
    result = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    _assert_untouched(deployed, result, live, ExitCode.BUNDLE, "does not match its SHA-256")


def test_truncated_bundle_is_refused(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    data = bundle.path.read_bytes()
    bundle.path.write_bytes(data[: len(data) // 2])
    subprocess.run(f"sha256sum {bundle.name} > {bundle.name}.sha256", shell=True, cwd=bundle.path.parent, check=True)
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path))
    _assert_untouched(deployed, result, live, ExitCode.BUNDLE, "truncated or corrupt")


def test_wrong_phrase_other_plan_and_stale_plan_are_refused(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    target_before = tree_snapshot(deployed.deploy_path())

    wrong = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "ok go")
    _assert_untouched(deployed, wrong, live, ExitCode.APPROVAL, "approval phrase is wrong")

    prod_phrase = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "PROD-DEPLOY FREIGEGEBEN")
    _assert_untouched(deployed, prod_phrase, live, ExitCode.APPROVAL, "needs 'STAGING-TEST FREIGEGEBEN'")

    other_env = deployed.cli("deploy", "production", "--plan", plan, "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert other_env.exit_code == ExitCode.CONFIG and "is for staging, not production" in other_env.output

    unknown = deployed.cli("deploy", "staging", "--plan", "0123456789abcdef", "--approve", "x")
    assert unknown.exit_code == ExitCode.APPROVAL and "no saved plan" in unknown.output

    # the config changes after the plan was made → stale
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace("keep_releases = 3", "keep_releases = 4", 1))
    stale = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    _assert_untouched(deployed, stale, live, ExitCode.APPROVAL, "is stale: freigabe.toml changed")
    assert f"make a new plan with `freigabe plan staging --bundle {bundle.path}`" in stale.output
    # a refused deploy writes nothing on the target; the refusals are noted locally
    assert tree_snapshot(deployed.deploy_path()) == target_before
    refusals = (deployed.root / ".freigabe/refusals/staging.jsonl").read_text().splitlines()
    assert [json.loads(r)["event"] for r in refusals] == ["approval.refused"] * 3

    # the live release changes after the plan was made → stale
    fresh = deployed.plan_id("staging", bundle.path)
    v3 = deployed.build("v3")
    assert deployed.deploy("staging", v3.path).exit_code == 0
    stale = deployed.cli("deploy", "staging", "--plan", fresh, "--approve", "STAGING-TEST FREIGEGEBEN")
    assert stale.exit_code == ExitCode.APPROVAL
    assert "the live release changed" in stale.output
    assert "approval.refused" not in [e["event"] for e in deployed.ledger()]
    status = deployed.cli("status", "staging")
    assert status.output.count("refused by tester") == 4


def test_interactive_approval_and_abbrechen(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    # CliRunner's stdin is not a terminal: without --approve the deploy is refused
    result = deployed.cli("deploy", "staging", "--bundle", str(bundle.path), input="STAGING-TEST FREIGEGEBEN\n")
    _assert_untouched(deployed, result, live, ExitCode.APPROVAL, "needs an approval")
    plan = deployed.plan_id("staging", bundle.path)
    aborted = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "ABBRECHEN")
    _assert_untouched(deployed, aborted, live, ExitCode.APPROVAL, "was cancelled")
    assert "plan.aborted" not in [e["event"] for e in deployed.ledger()]
    status = deployed.cli("status", "staging")
    assert "ABBRECHEN by tester" in status.output


def test_lock_held_refuses_and_unlock_clears(deployed: Project) -> None:
    live = deployed.current()
    lock = deployed.deploy_path() / ".freigabe" / "deploy.lock"
    lock.write_text(
        json.dumps(
            {
                "owner": "ci@runner",
                "host": "elsewhere",
                "pid": 4242,
                "run": "r-crashed",
                "started": 1.0,
                "release": None,
            }
        )
    )
    bundle = deployed.build("v2")
    result = deployed.deploy("staging", bundle.path)
    _assert_untouched(deployed, result, live, ExitCode.LOCKED, "held by ci@runner (run r-crashed")
    assert "looks abandoned" in result.output
    status = deployed.cli("status", "staging")
    assert "ci@runner" in status.output
    cleared = deployed.cli("unlock", "staging")
    assert cleared.exit_code == 0 and "r-crashed" in cleared.output
    assert not lock.exists()
    assert deployed.deploy("staging", bundle.path).exit_code == 0


def test_lock_is_released_on_failure_paths(deployed: Project) -> None:
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    assert deployed.deploy("staging", bundle.path).exit_code == ExitCode.ROLLED_BACK
    assert not (deployed.deploy_path() / ".freigabe/deploy.lock").exists()


def test_disk_full_while_extracting(project: Project, tmp_path: Path) -> None:
    """A real tmpfs with few inodes: the byte check passes, extraction runs out of space."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and needs root (CI runs as root)")
    need("mount")
    mount = project.deploy_path()
    first = project.build("v1")
    shared = tmp_path / "shared-copy"
    import shutil

    shutil.copytree(mount / "shared", shared)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,nr_inodes=600", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(shared, mount / "shared", dirs_exist_ok=True)
        assert project.deploy("staging", first.path).exit_code == 0
        live = project.current()
        for i in range(900):
            (project.app / "public" / f"page{i}.html").write_text("x")
        from freigabe.usecases.build import build

        big = build(project.loaded(), sha="55big".ljust(40, "0")).bundle
        result = project.deploy("staging", big.path)
        _assert_untouched(project, result, live, ExitCode.TARGET, "disk full on the target")
        assert not [p for p in (mount / "releases").iterdir() if p.name.startswith(".")]
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_first_deploy_failing_health_cannot_roll_back(project: Project) -> None:
    bundle = project.build("v1", healthy=False)
    result = project.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLBACK_FAILED, result.output
    assert "no earlier release to roll back to" in result.output


def test_plan_changes_nothing_on_the_target(deployed: Project) -> None:
    before = tree_snapshot(deployed.deploy_path())
    bundle = deployed.build("v2")
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path))
    assert result.exit_code == 0, result.output
    assert "STAGING-TEST FREIGEGEBEN" in result.output and "plan id" in result.output
    assert tree_snapshot(deployed.deploy_path()) == before


def test_manual_rollback_status_and_cleanup(deployed: Project) -> None:
    first = deployed.current()
    for version in ("v2", "v3", "v4", "v5"):
        bundle = deployed.build(version)
        assert deployed.deploy("staging", bundle.path).exit_code == 0
    releases = sorted(p.name for p in (deployed.deploy_path() / "releases").iterdir())
    assert len(releases) == 3 and first not in releases  # keep_releases = 3, oldest removed
    live = deployed.current()
    made = deployed.cli("rollback", "staging", "--approve", "STAGING-TEST FREIGEGEBEN")
    assert made.exit_code == ExitCode.CONFIG and "approve it with --plan" in made.output
    plan_id = made.output.split("--plan ")[1].split()[0]
    result = deployed.cli("rollback", "staging", "--plan", plan_id, "--approve", "STAGING-TEST FREIGEGEBEN")
    assert result.exit_code == 0, result.output
    assert deployed.current() == releases[-2] and deployed.served() == releases[-2]
    status = deployed.cli("status", "staging", "--json")
    data = json.loads(status.raw)
    assert data["current"] == releases[-2]
    assert [r["mark"] for r in data["releases"]] == ["good", "good", "good"]
    assert data["runs"][0]["outcome"] == "deployed"
    dry = deployed.cli("cleanup", "staging", "--dry-run")
    assert dry.exit_code == 0 and "would remove 0 releases" in dry.output
    assert live in [r["release"] for r in data["releases"]]


def test_evidence_of_a_rolled_back_run(deployed: Project) -> None:
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    result = deployed.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLED_BACK
    ledger = [json.loads(line) for line in (deployed.deploy_path() / ".freigabe/ledger.jsonl").read_text().splitlines()]
    run = ledger[-1]["run"]
    out = deployed.root / "evidence-out"
    written = deployed.cli("evidence", run, "--out", str(out))
    assert written.exit_code == 0, written.output
    ev = json.loads((out / "evidence.json").read_text())
    assert ev["outcome"] == "rolled_back"
    live = ev["symlink"]["before"]
    # "verified" is what the restored release answered, measured: readiness saw it, health passed
    rollback = ev["rollback"]
    assert rollback["status"] == "verified" and rollback["restored"] == live
    checks = {c["step"]: c for c in rollback["checks"]}
    assert checks["rollback.readiness"]["outcome"] == "ok"
    assert checks["rollback.readiness"]["details"]["release"] == live
    assert checks["rollback.health.health"]["outcome"] == "ok"
    assert [a["status"] for a in checks["rollback.health.health"]["details"]["attempts"]] == [200]
    assert ev["symlink"]["before"] == ev["symlink"]["after"]
    assert len(ev["symlink"]["switches"]) == 2
    assert ev["bundle"]["sha256"] == bundle.sha256
    health = [h for h in ev["health"] if h["step"] == "health.health"][0]
    assert [a["status"] for a in health["attempts"]] == [500, 500]  # measured, not asserted
    assert ev["approval"]["by"] == "tester"
    assert "rolled_back" in (out / "evidence.md").read_text()


def test_no_secret_anywhere(deployed: Project) -> None:
    """A command after the switch prints the bare token, then health fails and the deploy rolls
    back: the warning, the step log, the rollback's reason and the evidence all carry output."""
    toml = deployed.root / "freigabe.toml"
    leak = ["sh", "-c", "echo \"cache: $(sed -n 's/^HEALTHCHECK_TOKEN=//p' .env) done\"; exit 3"]
    toml.write_text(toml.read_text().replace("cache_after = [", f"cache_after = [{json.dumps(leak)}, ", 1))
    bundle = deployed.build("v2", respond={"/health": {"status": 500}})
    result = deployed.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert "cache: ******** done" in result.output  # the warning shows the output, masked
    assert TOKEN not in result.raw
    places = [deployed.root / ".freigabe", deployed.deploy_path() / ".freigabe"]
    for place in places:
        for path in place.rglob("*"):
            if path.is_file():
                assert TOKEN not in path.read_text(errors="replace"), path
    # ...while the server really required it
    url = deployed.servers["staging"].url
    assert httpx.get(f"{url}/health").status_code == 401
    assert httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_missing_token_env_is_refused_before_anything(deployed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    monkeypatch.delenv("HEALTHCHECK_TOKEN")
    result = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
    _assert_untouched(deployed, result, live, ExitCode.CONFIG, "HEALTHCHECK_TOKEN is not set")


def test_promotion_needs_stability_and_ships_the_same_bytes(deployed: Project) -> None:
    import time

    v2 = deployed.build("v2")
    assert deployed.deploy("staging", v2.path).exit_code == 0
    early = deployed.cli("promote", "production", "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert early.exit_code == ExitCode.APPROVAL and "NO-GO" in early.output
    time.sleep(1.1)
    staging_plan = deployed.cli("promote", "production")  # no approval: shows the plan, refuses
    assert staging_plan.exit_code == ExitCode.APPROVAL
    plan_id = staging_plan.output.split("plan id ")[1].split()[0]
    result = deployed.cli("promote", "production", "--plan", plan_id, "--approve", "PROD-DEPLOY FREIGEGEBEN")
    assert result.exit_code == 0, result.output
    assert "v2" in deployed.served_version("production")
    prod_ledger = [
        json.loads(line)
        for line in (deployed.deploy_path("production") / ".freigabe/ledger.jsonl").read_text().splitlines()
    ]
    started = [e for e in prod_ledger if e["event"] == "run.started"][-1]
    assert started["data"]["bundle"]["sha256"] == v2.sha256


def test_ledger_verify_detects_tampering(deployed: Project) -> None:
    ok = deployed.cli("ledger", "verify", "staging")
    assert ok.exit_code == 0 and "chain intact" in ok.output
    path = deployed.deploy_path() / ".freigabe/ledger.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # drop the last entry on the target
    cut = deployed.cli("ledger", "verify", "staging")
    assert cut.exit_code == ExitCode.LEDGER and "removed from the end" in cut.output
    edited = lines[:]
    edited[3] = edited[3].replace('"ok"', '"failed"', 1)
    path.write_text("\n".join(edited) + "\n")
    assert deployed.cli("ledger", "verify", "staging").exit_code == ExitCode.LEDGER
    # a deploy refuses to append to a broken chain
    # nothing is planned, let alone deployed, on top of a ledger that does not verify
    bundle = deployed.build("v2")
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path))
    assert result.exit_code == ExitCode.LEDGER and "edited or rewritten" in result.output
    assert "Traceback" not in result.output


def test_unreachable_environment_url_aborts(deployed: Project) -> None:
    live = deployed.current()
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    deployed.servers["staging"].stop()
    try:
        result = deployed.cli("deploy", "staging", "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN")
        assert result.exit_code == ExitCode.TARGET, result.output
        assert "does not answer" in result.output
        assert deployed.current() == live
    finally:
        deployed.servers["staging"] = type(deployed.servers["staging"])(deployed.deploy_path())
        deployed.servers["staging"].start()


@pytest.mark.parametrize(
    ("respond", "fragment"),
    [
        ({"/build/manifest.json": {"status": 404}}, "manifest http://127.0.0.1"),
        ({"/build/manifest.json": {"body": "{not json"}}, "is not a valid Vite manifest"),
        ({"/build/manifest.json": {"body": '{"resources/app.js": {"css": []}}'}}, "has no 'file'"),
    ],
)
def test_missing_or_invalid_manifest_rolls_back(deployed: Project, respond: dict[str, object], fragment: str) -> None:
    live = deployed.current()
    bundle = deployed.build("v2", respond=respond)
    result = deployed.deploy("staging", bundle.path)
    _assert_rolled_back(deployed, result, live, fragment)


def _bad_member(kind: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo({"absolute": "/tmp/freigabe-evil", "dotdot": "../../evil.php"}.get(kind, "evil"))
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "../../../etc/passwd"
    elif kind == "device":
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    elif kind == "fifo":
        info.type = tarfile.FIFOTYPE
    return info


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("absolute", "has an absolute path (/tmp/freigabe-evil)"),
        ("dotdot", "has a path with '..' (../../evil.php)"),
        ("symlink", "evil is a link to /etc, outside the release"),
        ("hardlink", "has a path with '..'"),
        ("device", "evil is a device"),
        ("fifo", "evil is a FIFO"),
        ("not-gzip", "is not a gzip file"),
    ],
)
def test_unsafe_bundle_is_refused_before_anything_is_written(deployed: Project, kind: str, fragment: str) -> None:
    """A bundle built elsewhere (with a valid .sha256) that would write outside the release."""
    live = deployed.current()
    good = deployed.build("v2")
    bad = good.path.with_name("deployment-bundle-evil.tar.gz")
    if kind == "not-gzip":
        bad.write_bytes(b"PK\x03\x04 a zip, not a tarball" * 10)
    else:
        with tarfile.open(good.path) as src, tarfile.open(bad, "w:gz") as dst:
            for member in src.getmembers():
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
            dst.addfile(_bad_member(kind))
    subprocess.run(f"sha256sum {bad.name} > {bad.name}.sha256", shell=True, cwd=bad.parent, check=True)
    before = tree_snapshot(deployed.deploy_path())
    for command in (["plan", "staging", "--bundle", str(bad)], ["deploy", "staging", "--bundle", str(bad)]):
        result = deployed.cli(*command)
        _assert_untouched(deployed, result, live, ExitCode.BUNDLE, fragment)
    assert tree_snapshot(deployed.deploy_path()) == before
    assert not Path("/tmp/freigabe-evil").exists()


def test_crashed_deploy_leaves_a_lock_that_is_diagnosed_and_cleared(deployed: Project) -> None:
    """SIGKILL in the middle of a deploy: the lock stays, names its dead owner, and the
    site keeps serving the old release until someone clears it."""
    import signal
    import sys
    import time

    live = deployed.current()
    toml = deployed.root / "freigabe.toml"
    original = toml.read_text()
    toml.write_text(original.replace('"check"]]', '"check"], ["sleep", "60"]]', 1))
    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "freigabe",
            "deploy",
            "staging",
            "--plan",
            plan,
            "--approve",
            "STAGING-TEST FREIGEGEBEN",
            "--config",
            str(toml),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log_dir = deployed.root / ".freigabe" / "runs"
    deadline = time.monotonic() + 60
    while not any(p.name.endswith("gate.layer2.command.3.log") for p in log_dir.rglob("*.log")):
        assert time.monotonic() < deadline and proc.poll() is None, "the deploy never reached the gate"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (deployed.deploy_path() / ".freigabe/deploy.lock").exists()
    assert deployed.current() == live and deployed.served() == live
    status = deployed.cli("status", "staging")
    assert f"process {proc.pid}" in status.output and "no longer running" in status.output
    toml.write_text(original)
    again = deployed.build("v3")
    refused = deployed.deploy("staging", again.path)
    _assert_untouched(deployed, refused, live, ExitCode.LOCKED, "looks abandoned")
    assert "freigabe unlock staging" in refused.output
    assert deployed.cli("unlock", "staging").exit_code == 0
    assert deployed.deploy("staging", again.path).exit_code == 0
    assert "v3" in deployed.served_version()
    unlocks = [e for e in deployed.ledger() if e["event"] == "run.started" and e["data"]["kind"] == "unlock"]
    assert unlocks, "clearing the lock is a recorded run of its own"
    steps = [e["data"] for e in deployed.ledger() if e["run"] == unlocks[-1]["run"] and e["event"] == "step.finished"]
    assert steps and steps[0]["step"] == "lock.clear" and steps[0]["outcome"] == "ok"


def test_an_unhealthy_live_site_can_still_get_its_fix(deployed: Project) -> None:
    """Production is down and the fix must go out: the pre-deploy check warns, not blocks."""
    live = deployed.current()
    assert live is not None
    health = deployed.deploy_path() / "releases" / live / "public" / "health.json"
    health.write_text('{"status": "failing"}')
    fix = deployed.build("v2")
    result = deployed.deploy("staging", fix.path)
    assert result.exit_code == 0, result.output
    assert "the live release is already unhealthy" in result.output
    assert "v2" in deployed.served_version()
