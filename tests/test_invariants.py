"""The trust invariants end to end, each with the scenario that breaks it if the code does.

Every test here was written so that the matching mutant of `tools/mutate.py` fails it:
skipping the digest check on the target, rolling back to a guess, calling an unverified
rollback verified, a redactor without the secret values, a switch that unlinks first,
a chain check without the `prev` link, readiness that does not wait, a lock that does not
exclude.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from freigabe import failpoints
from freigabe.core.ledger import serialize
from freigabe.errors import ExitCode

from .conftest import TOKEN, Project
from .support.inotify import DirectoryWatch


def _snapshot(project: Project) -> tuple[str | None, str, list[str]]:
    return project.current(), project.served(), project.releases()


# ---------------------------------------------------------------- 1. the digest is verified on the target


@pytest.mark.parametrize("change", ["damaged", "replaced"])
def test_a_bundle_changed_on_the_way_is_refused_at_verify(live: Project, change: str) -> None:
    """The bytes change after the local check and before they reach the target: damaged, or
    swapped for another *valid* bundle. The target hashes what it received as it unpacks it out
    of view; its own SHA-256 check must refuse it, and nothing of it may become visible."""
    before = _snapshot(live)
    v2 = live.build("v2")
    other = live.build("v3")  # a valid tar.gz, a different release
    remote = live.deploy_path() / ".freigabe" / "bundles" / v2.path.name
    original = v2.path.read_bytes()

    def tamper() -> None:
        if change == "damaged":
            data = bytearray(original)
            data[len(data) // 2] ^= 0xFF
            v2.path.write_bytes(bytes(data))
        else:
            shutil.copyfile(other.path, v2.path)

    failpoints.arm("step.before:bundle.upload", tamper)
    try:
        result = live.deploy("staging", v2.path)
    finally:
        v2.path.write_bytes(original)
    assert result.exit_code == ExitCode.BUNDLE, result.output
    assert ("bundle.verify" in result.output and "not the approved" in result.output) or (
        change == "damaged" and "receiving the bundle failed" in result.output
    ), result.output
    assert _snapshot(live) == before  # current, what is served, and the releases: unchanged
    assert not remote.exists() and not [p for p in remote.parent.iterdir() if p.name.startswith(remote.name)]
    assert not [p for p in (live.deploy_path() / "releases").iterdir() if p.name.startswith(".")]
    finished = [e for e in live.ledger() if e["event"] == "run.finished"][-1]
    assert finished["data"]["outcome"] == "aborted"
    assert finished["data"]["failed_step"] in ("bundle.verify", "bundle.upload")


# ---------------------------------------------------------------- 2. rollback target: what was live, never a guess


def test_rollback_returns_to_the_release_live_before_not_a_newer_bad_one(live: Project) -> None:
    a = live.current()
    assert a is not None
    b = live.build("v2", respond={"/health": {"status": 500}})
    assert live.deploy("staging", b.path).exit_code == ExitCode.ROLLED_BACK
    b_release = [r for r in live.releases() if r != a][0]
    assert b_release > a, "B must be newer by name than A for this test to mean anything"
    assert live.marks()[b_release] == "bad"

    c = live.build("v3", respond={"/health": {"status": 500}})
    result = live.deploy("staging", c.path)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert f"rolled back to {a}" in result.output
    assert live.current() == a and live.served() == a and "v1" in live.served_version()
    verified = [e for e in live.ledger() if e["event"] == "rollback.verified"][-1]
    assert verified["data"]["restored"] == a
    switches = [e["data"] for e in live.ledger() if e["event"] == "switch"]
    assert switches[-1]["after"] == f"releases/{a}"
    # a release marked bad is never a rollback target, not even when named
    refused = live.cli("rollback", "staging", "--to", b_release)
    assert refused.exit_code == ExitCode.CONFIG and "marked bad" in refused.output
    assert live.current() == a


# ---------------------------------------------------------------- 3. a rollback is verified on the restored release


@pytest.mark.parametrize(
    ("breakage", "failing_check"), [("health", "rollback.health.health"), ("probe", "rollback.readiness")]
)
def test_a_restored_release_that_fails_is_never_called_verified(
    live: Project, breakage: str, failing_check: str
) -> None:
    """The previous release breaks after it went live; the new deploy fails; the rollback
    switches back — and must prove the restored release answers, which it cannot."""
    a = live.current()
    assert a is not None
    public = live.deploy_path() / "releases" / a / "public"

    def break_previous() -> None:
        if breakage == "health":
            (public / "_respond.json").write_text(json.dumps({"/health": {"status": 503}}))
        else:
            (public / "REVISION").unlink()

    failpoints.arm("step.after:switch", break_previous)
    bundle = live.build("v2", respond={"/health": {"status": 500}})
    result = live.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLBACK_FAILED, result.output
    assert failing_check in result.output
    assert "answers healthy again (verified)" not in result.output
    events = [e["event"] for e in live.ledger()]
    assert "rollback.failed" in events and "rollback.verified" not in events
    run = live.ledger()[-1]["run"]
    out = live.root / "ev"
    assert live.cli("evidence", run, "--out", str(out)).exit_code == 0
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["rollback"]["status"] == "failed"
    assert evidence["outcome"] == "rollback_failed"


# ---------------------------------------------------------------- 4. secret values are redacted wherever printed

PRINT_TOKEN = ["sh", "-c", "echo \"gate sees $(sed -n 's/^HEALTHCHECK_TOKEN=//p' .env) and goes on\"; exit ${FAIL:-0}"]


def _every_text_file(*places: Path) -> list[Path]:
    return [p for place in places if place.exists() for p in place.rglob("*") if p.is_file() and not p.is_symlink()]


@pytest.mark.parametrize("gate_fails", [False, True])
def test_a_gate_printing_the_bare_token_never_shows_it(live: Project, gate_fails: bool) -> None:
    toml = live.root / "freigabe.toml"
    argv = PRINT_TOKEN if not gate_fails else [*PRINT_TOKEN[:2], PRINT_TOKEN[2].replace("${FAIL:-0}", "7")]
    toml.write_text(toml.read_text().replace('"check"]]', f'"check"], {json.dumps(argv)}]', 1))
    bundle = live.build("v2")
    result = live.deploy("staging", bundle.path)
    assert result.exit_code == (ExitCode.GATE if gate_fails else ExitCode.OK), result.output
    run = live.ledger()[-1]["run"]
    assert live.cli("evidence", run, "--out", str(live.root / "reports" / "evidence")).exit_code == 0
    assert TOKEN not in result.raw
    files = _every_text_file(live.root / ".freigabe", live.root / "reports", live.deploy_path() / ".freigabe")
    logs = [p for p in files if p.name.endswith("gate.layer2.command.3.log")]
    assert logs, "the gate's step log must exist"
    for path in files:
        assert TOKEN not in path.read_text(errors="replace"), path
    # the rest of the command's output is kept, the value masked in place
    assert "gate sees ******** and goes on" in logs[-1].read_text()
    if gate_fails:
        assert "gate sees ******** and goes on" in result.output
    # ...while the server really needs the token
    url = live.servers["staging"].url
    assert httpx.get(f"{url}/health").status_code == 401
    assert httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# ---------------------------------------------------------------- 5. switch, ledger link, readiness, lock


def test_current_is_never_missing_during_deploy_and_rollback(live: Project) -> None:
    """The kernel's view of the deploy folder: `current` is only ever renamed over, never
    removed, while a client keeps asking for it."""
    a = live.current()
    failures: list[str] = []
    stop = threading.Event()
    url = live.servers["staging"].url

    def hammer() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                response = client.get(f"{url}/REVISION", timeout=5)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text.strip()}")

    watch = DirectoryWatch(live.deploy_path())
    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    try:
        good = live.build("v2")
        assert live.deploy("staging", good.path).exit_code == 0
        bad = live.build("v3", respond={"/health": {"status": 500}})
        assert live.deploy("staging", bad.path).exit_code == ExitCode.ROLLED_BACK
    finally:
        stop.set()
        thread.join(timeout=10)
        watch.stop()
    assert live.current() not in (None, a)
    assert watch.of("current").count("moved_to") == 3  # deploy v2, deploy v3, roll back to v2
    assert set(watch.of("current")) == {"moved_to"}, watch.of("current")
    assert not failures, failures[:5]


def test_an_entry_spliced_in_from_another_ledger_breaks_the_chain(deployed: Project) -> None:
    """Someone replaces an entry on the target *and* in the local copy with a genuine entry of the
    same number from another environment's ledger: its hash and signature are valid, its number
    fits; only its `prev` link shows that it does not belong."""
    v1 = deployed.build("v1b")
    assert deployed.deploy("production", v1.path).exit_code == 0
    donor = deployed.ledger("production")
    paths = [deployed.deploy_path() / ".freigabe/ledger.jsonl", deployed.root / ".freigabe/ledger/staging.jsonl"]
    for path in paths:
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        index = 5
        assert entries[index]["seq"] == donor[index]["seq"]
        entries[index] = donor[index]
        path.write_text("".join(serialize(e) for e in entries))
    (deployed.root / ".freigabe/ledger/staging.head.json").unlink()  # the witness forgets where it was
    result = deployed.cli("ledger", "verify", "staging")
    assert result.exit_code == ExitCode.LEDGER, result.output
    assert "does not follow the entry before it" in result.output
    assert "no valid signature" not in result.output and "was edited" not in result.output


def test_a_forged_entry_with_a_recomputed_hash_is_refused(deployed: Project) -> None:
    """An entry appended on the target with a correct hash and `prev`, but no key freigabe holds."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from freigabe.core import ledger
    from freigabe.core.ledger import Signer

    path = deployed.deploy_path() / ".freigabe/ledger.jsonl"
    head = json.loads(path.read_text().splitlines()[-1])
    forged = ledger.make_entry(
        head,
        env="staging",
        run="forged",
        event="run.finished",
        data={"outcome": "deployed"},
        signer=Signer(Ed25519PrivateKey.generate()),
    )
    with path.open("a") as fh:
        fh.write(ledger.serialize(forged))
    result = deployed.cli("ledger", "verify", "staging")
    assert result.exit_code == ExitCode.LEDGER and "a key freigabe.toml does not trust" in result.output
    bundle = deployed.build("v2")
    refused = deployed.cli("plan", "staging", "--bundle", str(bundle.path))
    assert refused.exit_code == ExitCode.LEDGER and "does not trust" in refused.output


def test_health_is_not_enough_the_new_release_must_answer(deployed: Project) -> None:
    """The site keeps answering with the old release (as stale OPcache does) while the new
    release's health endpoint says ok: readiness must notice and roll back."""
    a = deployed.current()
    assert a is not None
    bundle = deployed.build("v2", respond={"/REVISION": {"body": a + "\n"}})
    result = deployed.deploy("staging", bundle.path)
    assert result.exit_code == ExitCode.ROLLED_BACK, result.output
    assert "readiness" in result.output and f"{a} answered" in result.output
    assert deployed.current() == a
    assert sorted(deployed.marks().values()) == ["bad", "good"]


def test_deploys_started_at_the_same_moment_run_one_at_a_time(deployed: Project) -> None:
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace('"check"]]', '"check"], ["sleep", "1"]]', 1))
    bundles = [deployed.build(f"v{n}") for n in (2, 3, 4)]
    plans = [deployed.plan_id("staging", b.path) for b in bundles]
    argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--config", str(toml)]
    procs = [
        subprocess.Popen(
            [*argv, "--plan", plan, "--approve", "STAGING-TEST FREIGEGEBEN"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for plan in plans
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    codes = [p.returncode for p in procs]
    assert codes.count(0) == 1, list(zip(codes, outputs, strict=True))
    assert set(codes) <= {0, ExitCode.LOCKED, ExitCode.APPROVAL}, list(zip(codes, outputs, strict=True))
    winner = bundles[codes.index(0)]
    assert (
        deployed.served_version()
        == f"<!doctype html><title>demo-shop</title><h1>demo-shop v{2 + codes.index(0)}</h1>\n"
    )
    assert (deployed.current() or "").endswith(winner.sha[:8])
    assert deployed.cli("ledger", "verify", "staging").exit_code == 0
    started = [e for e in deployed.ledger() if e["event"] == "run.started"]
    assert len(started) == 2  # the first deploy, and the one that won
