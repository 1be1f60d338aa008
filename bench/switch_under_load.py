"""Benchmark: requests that fail while `current` is switched under load, per switch method.

Real nginx + PHP-FPM (OPcache on) serve a PHP page from `<deploy>/current/public` under
`wrk` load (bounded: --seconds per run, --runs runs) while two releases are switched back
and forth as fast as possible with:
  rm+ln     `rm -f current && ln -s …`   (older tools and hand-written scripts)
  ln -sfn   GNU coreutils (a rename in recent coreutils only)
  freigabe/local, freigabe/ssh   freigabe's switch: a new link renamed over current
for each nginx set-up ($document_root and $realpath_root). Prints requests, non-2xx, socket
errors and switches per run. Then the switch as a deploy does it, followed by PHP-FPM's
graceful reload (SIGUSR2), with `process_control_timeout = 0` (PHP-FPM's default: a reload
ends workers mid-request) against `10s` (what the server audit asks for). Traffic goes to
127.0.0.1 only.

    python bench/switch_under_load.py [--seconds 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.sshd import start_sshd
from tests.support.webstack import start_webstack, write_php_app

from freigabe.adapters.transport import LocalTransport
from freigabe.adapters.transport.ssh import SshTransport
from freigabe.config.models import SshConfig


def wrk(url: str, seconds: int) -> dict[str, int]:
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


def shell_switcher(deploy: Path, script: str) -> Callable[[threading.Event], int]:
    def run(stop: threading.Event) -> int:
        proc = subprocess.Popen(
            ["sh", "-c", f"cd {deploy} && n=0; while [ ! -e stop ]; do {script}; n=$((n+2)); done; echo $n"],
            stdout=subprocess.PIPE,
            text=True,
        )
        stop.wait()
        (deploy / "stop").touch()
        count = int((proc.communicate(timeout=30)[0] or "0").strip() or 0)
        (deploy / "stop").unlink()
        return count

    return run


def transport_switcher(deploy: Path, transport: object) -> Callable[[threading.Event], int]:
    def run(stop: threading.Event) -> int:
        n = 0
        while not stop.is_set():
            transport.replace_symlink(f"releases/r{n % 2 + 1}", str(deploy / "current"))  # type: ignore[attr-defined]
            n += 1
        return n

    return run


def reload_switcher(deploy: Path, reload: list[str]) -> Callable[[threading.Event], int]:
    """A deploy's end: switch, then reload PHP-FPM; as often as the reload allows."""
    local = LocalTransport()

    def run(stop: threading.Event) -> int:
        n = 0
        while not stop.is_set():
            local.replace_symlink(f"releases/r{n % 2 + 1}", str(deploy / "current"))
            subprocess.run(reload, check=False, timeout=30)
            n += 1
            time.sleep(1.0)  # one reload at a time: a deploy reloads once
        return n

    return run


def measure(switcher: Callable[[threading.Event], int], url: str, seconds: int) -> tuple[dict[str, int], int]:
    stop = threading.Event()
    count: list[int] = []
    thread = threading.Thread(target=lambda: count.append(switcher(stop)))
    thread.start()
    time.sleep(0.2)
    result = wrk(url, seconds)
    stop.set()
    thread.join()
    return result, count[0] if count else 0


def reload_runs(work: Path, seconds: int, runs: int) -> None:
    print("\nswitch + PHP-FPM reload (SIGUSR2) under load, nginx with $realpath_root")
    print(f"{'process_control_timeout':<26}{'run':>4}{'requests':>10}{'non-2xx':>9}{'socket err':>11}{'reloads':>9}")
    for timeout in ("0", "10s"):
        deploy = work / f"deploy-reload-{timeout}"
        for name in ("r1", "r2"):
            write_php_app(deploy / "releases" / name, name)
        (deploy / "current").symlink_to("releases/r1")
        stack = start_webstack(work / f"stack-reload-{timeout}", deploy, control_timeout=timeout)
        try:
            for run in range(1, runs + 1):
                result, reloads = measure(reload_switcher(deploy, stack.reload_command()), f"{stack.url}/", seconds)
                print(
                    f"{timeout:<26}{run:>4}{result['requests']:>10}{result['non2xx']:>9}"
                    f"{result['socket_errors']:>11}{reloads:>9}",
                    flush=True,
                )
        finally:
            stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (`make tools`)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="freigabe-switch-"))
    sshd = start_sshd(work / "sshd")
    ssh = SshTransport(sshd.target, SshConfig(key_file=str(sshd.key_file), known_hosts=str(sshd.known_hosts)))
    try:
        for root_var in ("$document_root", "$realpath_root"):
            deploy = work / f"deploy-{root_var[1:]}"
            for name in ("r1", "r2"):
                write_php_app(deploy / "releases" / name, name)
                (deploy / "releases" / name / "public" / "REVISION").write_text(name)
            (deploy / "current").symlink_to("releases/r1")
            stack = start_webstack(work / f"stack-{root_var[1:]}", deploy, root_var)
            methods = {
                "rm+ln": shell_switcher(
                    deploy, "rm -f current && ln -s releases/r2 current; rm -f current && ln -s releases/r1 current"
                ),
                "ln -sfn": shell_switcher(deploy, "ln -sfn releases/r2 current; ln -sfn releases/r1 current"),
                "freigabe/local": transport_switcher(deploy, LocalTransport()),
                "freigabe/ssh": transport_switcher(deploy, ssh),
            }
            try:
                print(f"\nnginx with SCRIPT_FILENAME {root_var}$fastcgi_script_name")
                print(f"{'method':<16}{'run':>4}{'requests':>10}{'non-2xx':>9}{'socket err':>11}{'switches':>10}")
                for method, switcher in methods.items():
                    for run in range(1, args.runs + 1):
                        result, switches = measure(switcher, f"{stack.url}/index.php", args.seconds)
                        print(
                            f"{method:<16}{run:>4}{result['requests']:>10}{result['non2xx']:>9}"
                            f"{result['socket_errors']:>11}{switches:>10}",
                            flush=True,
                        )
            finally:
                stack.stop()
        reload_runs(work, args.seconds, args.runs)
    finally:
        ssh.close()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
