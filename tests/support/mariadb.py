"""A real MariaDB server on 127.0.0.1, its data in a temp dir the mysql user can reach."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .needs import need
from .sshd import free_port


@dataclass
class MariaDB:
    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.folder / "mysqld.sock"

    def client(self, *args: str) -> list[str]:
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "-u", "root", *args]

    def sql(self, statement: str, database: str = "") -> str:
        argv = self.client("-N", "-B", *([database] if database else []), "-e", statement)
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    def dump_command(self, database: str) -> list[str]:
        return ["mysqldump", "--no-defaults", f"--socket={self.socket}", "-u", "root", "--single-transaction", database]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_mariadb() -> MariaDB:
    need("mariadb-server", "mariadb-client")
    folder = Path(tempfile.mkdtemp(prefix="freigabe-mariadb-", dir="/tmp"))
    folder.chmod(0o755)
    data = folder / "data"
    data.mkdir()
    shutil.chown(data, "mysql", "mysql")
    # its own tmpdir: servers bootstrapping at once in /tmp remove each other's #sql-temptable files
    tmp = folder / "tmp"
    tmp.mkdir()
    shutil.chown(tmp, "mysql", "mysql")
    shutil.chown(folder, "mysql", "mysql")
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            f"--tmpdir={tmp}",
            "--user=mysql",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(folder / "mariadb.log", "wb")
    daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    process = subprocess.Popen(
        [
            daemon,
            "--no-defaults",
            f"--datadir={data}",
            f"--tmpdir={tmp}",
            f"--socket={folder / 'mysqld.sock'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=mysql",
            f"--pid-file={folder / 'mysqld.pid'}",
            "--skip-log-bin",
        ],
        stdout=log,
        stderr=log,
    )
    server = MariaDB(folder, port, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {(folder / 'mariadb.log').read_text()[-800:]}")
        if server.socket.exists():
            try:
                server.sql("select 1")
                return server
            except subprocess.CalledProcessError:
                pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("MariaDB did not start within 60 s")
