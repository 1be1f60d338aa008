"""An operator's worst day: live locks, full disks, lost connections, hostile bundles and configs,
orphaned commands, leftovers. Each test is one defect class the engine must not have."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from freigabe import failpoints
from freigabe.errors import ExitCode

from .conftest import TOKEN, Project
from .support.needs import need
from .support.sshd import Sshd, start_sshd

PHRASE = "STAGING-TEST FREIGEGEBEN"


def _paused_deploy(project: Project, point: str, bundle: Path) -> tuple[subprocess.Popen[str], Path]:
    folder = project.root / "fp"
    folder.mkdir(exist_ok=True)
    plan = project.plan_id("staging", bundle)
    env = {**os.environ, "FREIGABE_FAILPOINTS": f"{point}=pause", "FREIGABE_FAILPOINT_DIR": str(folder)}
    argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--plan", plan, "--approve", PHRASE]
    proc = subprocess.Popen(
        [*argv, "--config", str(project.root / "freigabe.toml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marker = folder / f"{point}.paused"
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0] if proc.poll() else "slow"
        time.sleep(0.02)
    return proc, marker


# ---------------------------------------------------------------- 1. unlock never frees a live owner's lock


def test_unlock_refuses_a_lock_whose_owner_is_alive(deployed: Project) -> None:
    proc, marker = _paused_deploy(deployed, "step.before:gate.layer2.files", deployed.build("v2").path)
    try:
        refused = deployed.cli("unlock", "staging")
        assert refused.exit_code == ExitCode.LOCKED, refused.output
        assert "its owner is alive" in refused.output and f"process {proc.pid}" in refused.output
        assert (deployed.deploy_path() / ".freigabe/deploy.lock").exists()
    finally:
        marker.unlink()
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert deployed.cli("ledger", "verify", "staging").exit_code == 0


def test_a_remote_owner_is_judged_by_its_heartbeat(deployed: Project) -> None:
    lock = deployed.deploy_path() / ".freigabe/deploy.lock"
    beat = deployed.deploy_path() / ".freigabe/deploy.lock.heartbeat"
    lock.write_text(
        json.dumps(
            {"owner": "ci", "host": "runner-7", "pid": 99, "run": "r-remote", "started": time.time(), "release": None}
        )
    )
    beat.write_text(f"{time.time():.3f} r-remote\n")
    alive = deployed.cli("unlock", "staging")
    assert alive.exit_code == ExitCode.LOCKED and "heartbeat is 0 s old" in alive.output
    beat.write_text(f"{time.time() - 120:.3f} r-remote\n")
    gone = deployed.cli("unlock", "staging")
    assert gone.exit_code == 0, gone.output
    assert not lock.exists() and not beat.exists()


# ---------------------------------------------------------------- 2. a full disk never tears the ledger


def test_a_full_disk_during_a_ledger_append_leaves_no_torn_line(project: Project, tmp_path: Path) -> None:
    need("mount")
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and needs root (CI runs as root)")
    mount = project.deploy_path()
    shared = tmp_path / "shared-copy"
    shutil.copytree(mount / "shared", shared)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(shared, mount / "shared", dirs_exist_ok=True)
        assert project.deploy("staging", project.build("v1").path).exit_code == 0
        live = project.current()
        filler = mount / "filler"
        hits = {"n": 0}

        def fill_the_disk() -> None:
            hits["n"] += 1
            if hits["n"] == 6:  # a few steps into the deploy: the disk runs full
                with filler.open("wb") as fh, __import__("contextlib").suppress(OSError):
                    while True:
                        fh.write(b"x" * 65536)

        failpoints.arm("ledger.append.before", fill_the_disk)
        result = project.deploy("staging", project.build("v2").path)
        failpoints.disarm_all()
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert "disk full" in result.output
        assert project.current() == live and project.served() == live
        raw = (mount / ".freigabe/ledger.jsonl").read_bytes()
        assert raw.endswith(b"\n"), "a torn last line"
        filler.unlink()
        assert project.cli("ledger", "verify", "staging").exit_code == 0
        assert project.cli("status", "staging").exit_code == 0
        assert project.deploy("staging", project.build("v3").path).exit_code == 0
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_torn_line_is_repaired_by_the_next_run_and_recorded(deployed: Project) -> None:
    path = deployed.deploy_path() / ".freigabe/ledger.jsonl"
    with path.open("ab") as fh:
        fh.write(b'{"seq": 999, "half an entr')
    verify = deployed.cli("ledger", "verify", "staging")
    assert verify.exit_code == 0 and "cut short" in verify.output
    assert deployed.cli("status", "staging").exit_code == 0
    assert deployed.deploy("staging", deployed.build("v2").path).exit_code == 0
    repaired = [e for e in deployed.ledger() if e["event"] == "ledger.repaired"]
    assert repaired and repaired[0]["data"]["removed_bytes"] == len(b'{"seq": 999, "half an entr')
    assert deployed.cli("ledger", "verify", "staging").exit_code == 0


# ---------------------------------------------------------------- 3. a lost connection after the switch


def _sessions(sshd: Sshd) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(sshd.process.pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_lost_connection_after_the_switch_reconnects_and_rolls_back(live_ssh: Project, sshd: Sshd) -> None:
    live = live_ssh.current()
    bundle = live_ssh.build("v2", respond={"/health": {"status": 500}})
    proc, marker = _paused_deploy(live_ssh, "step.before:readiness", bundle.path)
    for pid in _sessions(sshd):  # the network drops: sshd's session processes are gone
        os.kill(pid, signal.SIGKILL)
    marker.unlink()
    out = " ".join(proc.communicate(timeout=180)[0].split())
    assert proc.returncode == ExitCode.ROLLED_BACK, out
    assert "verified" in out and "Traceback" not in out and "socket.send" not in out
    assert live_ssh.current() == live and live_ssh.served() == live


def test_a_connection_that_stays_lost_names_the_release_and_the_way_back(project: Project, tmp_path: Path) -> None:
    own = start_sshd(tmp_path / "own-sshd")  # this test ends its server for good; the shared one stays up
    try:
        project.use_ssh(own)
        assert project.deploy("staging", project.build("v1").path).exit_code == 0
        bundle = project.build("v2", respond={"/health": {"status": 500}})
        proc, marker = _paused_deploy(project, "step.before:readiness", bundle.path)
        new = project.current()
        sessions = _sessions(own)
        own.process.send_signal(signal.SIGTERM)  # the server goes away for good
        own.process.wait(timeout=10)
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)
        marker.unlink()
        out = " ".join(proc.communicate(timeout=180)[0].split())
    finally:
        own.stop()
    assert proc.returncode == ExitCode.ROLLBACK_FAILED, out
    assert f"{new} may be live and unverified" in out and "freigabe recover staging" in out
    assert "Traceback" not in out and "socket.send() raised" not in out


# ---------------------------------------------------------------- 4. credentials only to the environment's origin


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return None


def test_a_manifest_entry_elsewhere_gets_no_token_and_fails_the_check(deployed: Project) -> None:
    foreign = ThreadingHTTPServer(("127.0.0.2", 0), _Recorder)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.2:{foreign.server_address[1]}/evil.js"
        manifest = {"resources/app.js": {"file": url, "isEntry": True}}
        live = deployed.current()
        bundle = deployed.build("v2", respond={"/build/manifest.json": {"body": json.dumps(manifest)}})
        result = deployed.deploy("staging", bundle.path)
        assert result.exit_code == ExitCode.ROLLED_BACK, result.output
        assert "outside the environment's origin" in result.output
        assert _Recorder.seen == []  # not even asked
        assert deployed.current() == live
    finally:
        foreign.shutdown()


def test_checks_off_the_origin_are_refused_in_the_config(project: Project) -> None:
    toml = project.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace('url = "/health"', 'url = "https://evil.example.com/health"', 1))
    result = project.cli("status", "staging")
    assert result.exit_code == ExitCode.CONFIG
    assert "is not on the environment's origin" in result.output


# ---------------------------------------------------------------- 5. audit output goes through the redactor


def test_what_an_audit_command_prints_is_redacted_in_reports_and_on_screen(deployed: Project) -> None:
    toml = deployed.root / "freigabe.toml"
    leak = ["sh", "-c", "echo \"status: $(sed -n 's/^HEALTHCHECK_TOKEN=//p' ../../shared/.env) fine\""]
    text = toml.read_text()
    start = text.index("migrations_status = ")
    end = text.index("\n", start)
    toml.write_text(text[:start] + f"migrations_status = {json.dumps(leak)}" + text[end:])
    result = deployed.cli("plan", "staging", "--bundle", str(deployed.build("v2").path))
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.raw
    reports = list((deployed.root / "reports").iterdir())
    assert reports
    for path in reports:
        assert TOKEN not in path.read_text(), path


# ---------------------------------------------------------------- 6. the local copy is a witness


def test_a_cut_tail_blocks_the_deploy_and_the_local_copy_is_never_rewritten(deployed: Project) -> None:
    target = deployed.deploy_path() / ".freigabe/ledger.jsonl"
    local = deployed.root / ".freigabe/ledger/staging.jsonl"
    witnessed = local.read_bytes()
    lines = target.read_text().splitlines(keepends=True)
    target.write_text("".join(lines[:-3]))
    result = deployed.cli("plan", "staging", "--bundle", str(deployed.build("v2").path))
    assert result.exit_code == ExitCode.LEDGER and "removed from the end" in result.output
    assert local.read_bytes() == witnessed


# ---------------------------------------------------------------- 7. crash leftovers are removed


def test_cleanup_and_the_next_deploy_remove_what_crashed_runs_left(deployed: Project) -> None:
    root = deployed.deploy_path()
    left = [
        root / "releases" / ".20990101_000000-dead.partial" / "x.php",
        root / ".freigabe" / "ledger.jsonl.tmp-1a2b3c4d",
        root / ".freigabe" / "bundles" / "deployment-bundle-x.tar.gz.part-1a2b3c4d",
    ]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1024)
    (root / ".current.0123456789ab").symlink_to("releases/nowhere")
    status = deployed.cli("status", "staging")
    assert "crashed runs left" in status.output and "freigabe cleanup staging" in status.output
    done = deployed.cli("cleanup", "staging")
    assert done.exit_code == 0 and "leftovers of crashed runs" in done.output
    assert not any(p.exists() for p in left) and not (root / ".current.0123456789ab").is_symlink()
    (root / ".current.ba9876543210").symlink_to("releases/nowhere")
    assert deployed.deploy("staging", deployed.build("v2").path).exit_code == 0
    assert not (root / ".current.ba9876543210").is_symlink()


# ---------------------------------------------------------------- 9, 10. names and ids are what they claim


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("[environments.staging]", '[environments."../../x"]'), "must be a short identifier"),
        (('deploy_path = "', 'deploy_path = "/"\n#'), "is a system folder"),
        (('deploy_path = "', 'deploy_path = "/etc"\n#'), "is a system folder"),
    ],
)
def test_bad_names_and_paths_are_one_sentence(project: Project, change: tuple[str, str], fragment: str) -> None:
    toml = project.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace(*change, 1))
    result = project.cli("status", "staging")
    assert result.exit_code == ExitCode.CONFIG and fragment in result.output and "Traceback" not in result.output
    assert not (project.root / ".freigabe").exists() or not list((project.root / ".freigabe").rglob("x*"))


@pytest.mark.parametrize("given", ["????????", "********", "../../etc", "abc"])
def test_a_plan_id_is_an_id_never_a_pattern(deployed: Project, given: str) -> None:
    deployed.plan_id("staging", deployed.build("v2").path)
    result = deployed.cli("deploy", "staging", "--plan", given, "--approve", PHRASE)
    assert result.exit_code == ExitCode.CONFIG and "not a plan id" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- 11. no orphans


def _alive(marker: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"^{marker}"], capture_output=True, text=True).stdout  # argv[0] only
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_a_killed_deploy_leaves_no_command_running_beside_the_next(
    request: pytest.FixtureRequest, project: Project, transport: str
) -> None:
    if transport == "ssh":
        project.use_ssh(request.getfixturevalue("sshd"))
    assert project.deploy("staging", project.build("v1").path).exit_code == 0
    marker = f"orphan-{os.getpid()}-{transport}"
    toml = project.root / "freigabe.toml"
    gate = ["bash", "-c", f"exec -a {marker} sleep 300"]
    toml.write_text(toml.read_text().replace('"check"]]', f'"check"], {json.dumps(gate)}]', 1))
    plan = project.plan_id("staging", project.build("v2").path)
    argv = [sys.executable, "-m", "freigabe", "deploy", "staging", "--plan", plan, "--approve", PHRASE]
    proc = subprocess.Popen([*argv, "--config", str(toml)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _alive(marker):
        assert time.monotonic() < deadline, "the gate never started"
        time.sleep(0.05)
    if transport == "ssh":
        # sshd ends a session whose client closed the connection; a link that drops silently does
        # not, and the session's shell can die on its own: the command then runs on, unowned.
        for pid in _alive(marker):  # its parent is the wrapper shell freigabe started it from
            parent = subprocess.run(["ps", "-o", "ppid=", "-p", str(pid)], capture_output=True, text=True)
            os.kill(int(parent.stdout), signal.SIGKILL)
    proc.kill()  # SIGKILL: nothing in freigabe can end its commands
    proc.wait()
    assert _alive(marker), "the gate's sleep outlives the killed deploy (as it would)"
    toml.write_text(toml.read_text().replace(f", {json.dumps(gate)}", ""))
    assert project.cli("unlock", "staging").exit_code == 0
    result = project.deploy("staging", project.build("v3").path)
    assert result.exit_code == 0, result.output
    assert not _alive(marker), "the next run ended the orphan before it started"
    ended = [e for e in project.ledger() if e["event"] == "orphans.ended"]
    assert ended and ended[-1]["data"]["process_groups"]
