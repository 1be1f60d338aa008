"""A fleet on loopback: each host a real sshd with its own port and host key, in its own mount
namespace (so every host has the same deploy path, as real hosts do), serving its `current`
through its own nginx + PHP-FPM; a round-robin nginx in front of all of them.

A host can be killed (every process in its namespace, SIGKILL: its sshd, the SSH sessions,
nginx, PHP-FPM) and revived with the same port, keys and files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .needs import need
from .sshd import Sshd, free_port, start_sshd
from .webstack import NGINX, NGINX_CONF, PHP_FPM

DEPLOY = "/srv/freigabe-fleet/app"  # the same path on every host: each mounts its own folder there
TOKEN = "fleet-tok-0a1b2c3d4e5f60718293a4b5c6d7e8f9-secret"

HOST_FPM = """
[global]
process_control_timeout = 10s
pid = {deploy}/shared/run/php-fpm.pid
error_log = {dir}/php-fpm.log
daemonize = no
[app]
user = root
group = root
listen = 127.0.0.1:{port}
pm = static
pm.max_children = 2
catch_workers_output = yes
"""

LB_NGINX = """
worker_processes 1;
pid {dir}/lb.pid;
error_log {dir}/lb-error.log warn;
events {{ worker_connections 2048; }}
http {{
  access_log off;
  client_body_temp_path {dir}/lb-body;
  proxy_temp_path {dir}/lb-proxy;
  fastcgi_temp_path {dir}/lb-fastcgi;
  uwsgi_temp_path {dir}/lb-uwsgi;
  scgi_temp_path {dir}/lb-scgi;
  upstream fleet {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://fleet;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization $http_authorization;
      proxy_next_upstream off;
    }}
  }}
}}
"""

APP = {
    "public/index.php": "<?php\necho 'fleet-shop {version}', \"\\n\";\n",
    "public/health.php": """<?php
header('Content-Type: application/json');
$env = (string) @file_get_contents(__DIR__ . '/../.env');
preg_match('/^HEALTHCHECK_TOKEN=(.*)$/m', $env, $m);
if (($_SERVER['HTTP_AUTHORIZATION'] ?? '') !== 'Bearer ' . trim($m[1] ?? '')) {
    http_response_code(401);
    echo json_encode(['status' => 'unauthorized']);
    exit;
}
if (file_exists(__DIR__ . '/../storage/fail-health-{version}')) {
    http_response_code(500);
    echo json_encode(['status' => 'failing', 'version' => '{version}']);
    exit;
}
echo json_encode(['status' => 'ok', 'version' => '{version}']);
""",
    "bin/gate.sh": 'if [ -e storage/fail-gate ]; then echo "gate failed: storage/fail-gate is set here"; exit 1; fi\n'
    'echo "gate ok"\n',
    "bin/migrate.sh": 'echo "$FREIGABE_RELEASE" >> storage/migrations.log\necho "migrated $FREIGABE_RELEASE"\n',
}


def write_app(app: Path, version: str, size: int = 0) -> None:
    """The fleet's PHP app; `size` bytes of incompressible filler make a bigger bundle (the bench)."""
    for rel, text in APP.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{version}", version))
    if size:
        (app / "public" / "filler.bin").write_bytes(os.urandom(size))


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


@dataclass
class FleetHost:
    name: str
    folder: Path
    root: Path  # this host's files; it sees them at DEPLOY
    sshd: Sshd
    http_port: int
    fpm_port: int
    web: list[subprocess.Popen[bytes]] = field(default_factory=list)
    namespace: str | None = None  # the mount namespace every process of this host lives in

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def target(self) -> str:
        return self.sshd.target

    def start_web(self) -> None:
        self.namespace = _namespace(self.sshd.process.pid)
        # --root/--wd: entering a mount namespace resets the root to the namespace's own; keep the
        # host's (the same on a machine, the chroot's inside a fresh-root check)
        enter = ["nsenter", "--target", str(self.sshd.process.pid), "--mount", "--root", "--wd", "--"]
        (self.root / "shared" / "run").mkdir(parents=True, exist_ok=True)
        (self.root / "shared" / "run" / "php-fpm.pid").unlink(missing_ok=True)  # a killed master's
        fpm_conf = self.folder / "php-fpm.conf"
        fpm_conf.write_text(HOST_FPM.format(dir=self.folder, deploy=DEPLOY, port=self.fpm_port))
        nginx_conf = self.folder / "nginx.conf"
        nginx_conf.write_text(
            NGINX_CONF.format(
                dir=self.folder, deploy=DEPLOY, port=self.http_port, fpm_port=self.fpm_port, root_var="$realpath_root"
            )
        )
        fpm_args = ["-d", "opcache.enable=1", "-d", "opcache.validate_timestamps=0", "-d", "opcache.enable_cli=0"]
        self.web = [
            subprocess.Popen(
                [*enter, PHP_FPM, "-y", str(fpm_conf), "-F", "-R", *fpm_args],
                stdout=subprocess.DEVNULL,
                stderr=open(self.folder / "php-fpm.stderr", "wb"),
            ),
            subprocess.Popen(
                [*enter, NGINX, "-e", str(self.folder / "nginx-error.log"), "-c", str(nginx_conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url + "/", timeout=1)
                if (self.root / "shared" / "run" / "php-fpm.pid").exists():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: nginx/php-fpm did not start: {self.folder}")
            time.sleep(0.05)

    def processes(self) -> list[int]:
        """Every process in this host's mount namespace: sshd, its sessions, nginx, PHP-FPM."""
        mine = self.namespace
        if mine is None:
            return []
        return [int(p) for p in os.listdir("/proc") if p.isdigit() and _namespace(int(p)) == mine]

    def kill(self) -> None:
        """The host dies: every process in it (again until none is left: PHP-FPM respawns children)."""
        deadline = time.monotonic() + 10
        while (pids := self.processes()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for proc in (self.sshd.process, *self.web):
            proc.wait(timeout=10)

    def revive(self) -> None:
        """The host comes back: the same sshd (port, keys) and web server over the same files."""
        assert self.sshd.argv is not None
        self.sshd.process = subprocess.Popen(self.sshd.argv, stderr=open(self.sshd.folder / "sshd.log", "ab"))
        deadline = time.monotonic() + 15
        import socket

        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.sshd.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name}: sshd did not come back") from None
                time.sleep(0.05)
        self.start_web()

    def stop(self) -> None:
        self.kill()

    # ------------------------------------------------------------ what the host shows

    def current(self) -> str | None:
        link = self.root / "current"
        return os.path.basename(os.readlink(link)) if link.is_symlink() else None

    def served(self) -> str:
        return httpx.get(f"{self.url}/REVISION", timeout=5).text.strip()

    def version(self) -> str:
        return httpx.get(f"{self.url}/index.php", timeout=5).text.strip()

    def ledger(self) -> list[dict[str, Any]]:
        path = self.root / ".freigabe" / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def marks(self) -> dict[str, str]:
        folder = self.root / ".freigabe" / "marks"
        return {p.stem: json.loads(p.read_text())["mark"] for p in folder.glob("*.json")} if folder.is_dir() else {}

    def releases(self) -> list[str]:
        folder = self.root / "releases"
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []

    def flag(self, name: str, on: bool = True) -> None:
        """A file in this host's shared storage that its gate or health endpoint reads."""
        path = self.root / "shared" / "storage" / name
        if on:
            path.write_text("set by the test\n")
        else:
            path.unlink(missing_ok=True)

    def migrations(self) -> list[str]:
        log = self.root / "shared" / "storage" / "migrations.log"
        return log.read_text().split() if log.exists() else []


def start_host(folder: Path, name: str) -> FleetHost:
    need("openssh-server", "openssh-client", "nginx", "php-fpm", "util-linux")
    root = folder / "root"
    for sub in ("shared/storage", "shared/run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "shared" / ".env").write_text(f"APP_NAME=fleet\nHEALTHCHECK_TOKEN={TOKEN}\n")
    Path(DEPLOY).mkdir(parents=True, exist_ok=True)
    wrap = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        'mount --bind "$1" "$2" && shift 2 && exec "$@"',
        "sh",
        str(root),
        DEPLOY,
    ]
    sshd = start_sshd(folder / "sshd", wrap=wrap)
    host = FleetHost(name, folder, root, sshd, free_port(), free_port())
    host.start_web()
    return host


@dataclass
class Fleet:
    folder: Path
    hosts: list[FleetHost]
    lb_port: int = 0
    lb: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def host(self, name: str) -> FleetHost:
        return next(h for h in self.hosts if h.name == name)

    def known_hosts(self) -> Path:
        path = self.folder / "known_hosts"
        path.write_text("".join(h.sshd.known_hosts.read_text() for h in self.hosts))
        return path

    def start_lb(self) -> None:
        self.lb_port = free_port()
        servers = "\n".join(f"    server 127.0.0.1:{h.http_port};" for h in self.hosts)
        conf = self.folder / "lb.conf"
        conf.write_text(LB_NGINX.format(dir=self.folder, port=self.lb_port, servers=servers))
        self.lb = subprocess.Popen(
            [NGINX, "-e", str(self.folder / "lb-error.log"), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the load balancer did not start") from None
                time.sleep(0.05)

    def hosts_toml(self, env: str, roles: dict[str, list[str]] | None = None) -> str:
        out = []
        for index, h in enumerate(self.hosts):
            given = (roles or {}).get(h.name) or (["web", "migrate"] if index == 0 else ["web"])
            out.append(
                f"[environments.{env}.hosts.{h.name}]\n"
                f'target = "ssh://root@127.0.0.1"\nport = {h.sshd.port}\n'
                f'key_file = "{h.sshd.key_file}"\nroles = {json.dumps(given)}\nurl = "{h.url}"\n'
            )
        return "\n".join(out)

    def stop(self) -> None:
        for h in self.hosts:
            h.stop()
        if self.lb is not None and self.lb.poll() is None:
            self.lb.send_signal(signal.SIGQUIT)
            self.lb.wait(timeout=10)


def start_fleet(folder: Path, count: int, lb: bool = True) -> Fleet:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"web{i}" for i in range(1, count + 1)]
    with ThreadPoolExecutor(max_workers=min(8, count)) as pool:
        hosts = list(pool.map(lambda n: start_host(folder / n, n), names))
    fleet = Fleet(folder, hosts)
    if lb:
        fleet.start_lb()
    return fleet


def fleet_config(fleet: Fleet, root: Path, env: str = "staging", extra: str = "", roles: Any = None) -> str:
    """A freigabe.toml for the fleet: the PHP app, its gate and migration scripts, checks per host."""
    return f"""preset = "generic"

[project]
name = "fleet-shop"

[build]
source = "app"
output_dir = "dist"

[gates]
required_files = ["public/index.php", "public/health.php"]
commands = [["sh", "bin/gate.sh"]]

[deploy]
shared_dirs = ["storage"]
shared_files = [".env"]
migrate = [["sh", "bin/migrate.sh"]]
reload = [["sh", "-c", "kill -USR2 $(cat {DEPLOY}/shared/run/php-fpm.pid)"]]
revision_file = "public/REVISION"

[environments.{env}]
deploy_path = "{DEPLOY}"
url = "{fleet.url}"
keep_releases = 3
{extra}
[environments.{env}.ssh]
known_hosts = "{fleet.known_hosts()}"
connect_timeout = "10s"

[environments.{env}.readiness]
timeout = "10s"
interval = "0.1s"

[environments.{env}.readiness.probe]
url = "/REVISION"

[[environments.{env}.health]]
name = "app"
url = "/health.php"
bearer_token_env = "HEALTHCHECK_TOKEN"
expect_json = {{ status = "ok" }}
attempts = 2
interval = "0.2s"
timeout = "2s"

[environments.{env}.backup]
db_dump = ["sh", "-c", "echo '-- dump of the fleet database'"]
keep = 2

{fleet.hosts_toml(env, roles)}
"""
