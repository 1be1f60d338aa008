"""A real OpenSSH sshd on 127.0.0.1 with its own host key, client key and known_hosts."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .needs import need

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sshd:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    argv: list[str] | None = None  # how it was started (a fleet's host starts it again after a "crash")

    @property
    def key_file(self) -> Path:
        return self.folder / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    @property
    def target(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def toml(self) -> str:
        return f'key_file = "{self.key_file}"\nknown_hosts = "{self.known_hosts}"\n'

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_sshd(folder: Path, extra: str = "", wrap: list[str] | None = None) -> Sshd:
    """`extra`: more sshd_config lines (e.g. `SetEnv BASH_ENV=...` for a login shell that talks);
    `wrap`: a command the sshd runs under (a fleet's host: its own mount namespace)."""
    need("openssh-server", "openssh-client")
    folder.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    for name in ("host_ed25519", "client_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_ed25519.pub").read_text())
    os.chmod(folder / "authorized_keys", 0o600)
    port = free_port()
    config = folder / "sshd_config"
    # The sessions log in as this machine's user, whose rc files the tests do not own. One that
    # waits on a lock (pyenv's `rehash`, stuck for 60 s per login behind a lock file that a killed
    # login left) would stall every command; tell it not to wait. sshd takes only the first SetEnv
    # line, so the caller's variables join this one.
    setenv = ["PYENV_REHASH_TIMEOUT=0"]
    lines = []
    for line in extra.splitlines():
        if line.startswith("SetEnv "):
            setenv += line.split()[1:]
        else:
            lines.append(line)
    extra = "SetEnv " + " ".join(setenv) + "\n" + "".join(f"{line}\n" for line in lines)
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_ed25519'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxSessions 50\nMaxStartups 50\n" + extra
    )
    argv = [*(wrap or []), SSHD, "-D", "-e", "-f", str(config)]
    process = subprocess.Popen(argv, stderr=open(folder / "sshd.log", "wb"))
    host_key = (folder / "host_ed25519.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Sshd(port, folder, process, argv)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("sshd did not start listening within 15 s")
