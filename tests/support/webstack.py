"""Real nginx + PHP-FPM (OPcache on, validate_timestamps=0) on 127.0.0.1, files under a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .needs import need
from .sshd import free_port

PHP_FPM = "/usr/sbin/php-fpm8.2"
NGINX = "/usr/sbin/nginx"

NGINX_CONF = """
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp-body;
  fastcgi_temp_path {dir}/tmp-fastcgi;
  proxy_temp_path {dir}/tmp-proxy;
  uwsgi_temp_path {dir}/tmp-uwsgi;
  scgi_temp_path {dir}/tmp-scgi;
  types {{ text/html html; application/json json; application/javascript js; text/css css; text/plain txt; }}
  server {{
    listen 127.0.0.1:{port};
    root {deploy}/current/public;
    index index.php;
    location / {{ try_files $uri $uri/ /index.php?$query_string; }}
    location ~ \\.php$ {{
      fastcgi_pass 127.0.0.1:{fpm_port};
      fastcgi_param SCRIPT_FILENAME {root_var}$fastcgi_script_name;
      fastcgi_param DOCUMENT_ROOT {root_var};
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param HTTP_AUTHORIZATION $http_authorization;
    }}
  }}
}}
"""

FPM_CONF = """
[global]
process_control_timeout = {control_timeout}
pid = {dir}/php-fpm.pid
error_log = {dir}/php-fpm.log
daemonize = no
[app]
user = root
group = root
listen = 127.0.0.1:{port}
pm = static
pm.max_children = 1
catch_workers_output = yes
"""


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} server exited: {log.read_text()[-600:] if log.exists() else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 20 s")


@dataclass
class WebStack:
    folder: Path
    deploy_path: Path
    port: int
    fpm_port: int
    nginx: subprocess.Popen[bytes]
    fpm: subprocess.Popen[bytes]
    nginx_conf: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fpm_pid_file(self) -> Path:
        return self.folder / "php-fpm.pid"

    def reload_command(self) -> list[str]:
        """Graceful PHP-FPM reload, as freigabe runs it: USR2 to the master."""
        return ["sh", "-c", f"kill -USR2 $(cat {self.fpm_pid_file})"]

    def stop(self) -> None:
        for proc in (self.nginx, self.fpm):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if proc is self.fpm else signal.SIGQUIT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def start_webstack(
    folder: Path, deploy_path: Path, root_var: str = "$realpath_root", control_timeout: str = "10s"
) -> WebStack:
    """nginx + PHP-FPM serving `deploy_path`/current/public. `control_timeout` is PHP-FPM's
    process_control_timeout: how long a reload waits for running requests (0: it does not).

    A free port can be taken by another process between the look and the bind (parallel workers,
    another suite on the machine): such a start is tried again on new ports, twice at most."""
    need("nginx", "php-fpm", "php-cli", "php-mysql")
    for attempt in range(3):
        try:
            return _start(folder, deploy_path, root_var, control_timeout)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def _start(folder: Path, deploy_path: Path, root_var: str, control_timeout: str) -> WebStack:
    folder.mkdir(parents=True, exist_ok=True)
    fpm_port, port = free_port(), free_port()
    (folder / "php-fpm.conf").write_text(FPM_CONF.format(dir=folder, port=fpm_port, control_timeout=control_timeout))
    fpm = subprocess.Popen(
        [
            PHP_FPM,
            "-y",
            str(folder / "php-fpm.conf"),
            "-F",
            "-R",
            "-d",
            "opcache.enable=1",
            "-d",
            "opcache.validate_timestamps=0",
            "-d",
            "opcache.enable_cli=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "php-fpm.stderr", "wb"),
    )
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port, deploy=deploy_path, fpm_port=fpm_port, root_var=root_var))
    nginx = subprocess.Popen(
        [NGINX, "-e", str(folder / "nginx-error.log"), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack = WebStack(folder, deploy_path, port, fpm_port, nginx, fpm, conf)
    try:
        deadline = time.monotonic() + 20
        while not stack.fpm_pid_file.exists():
            if fpm.poll() is not None or time.monotonic() > deadline:
                why = (folder / "php-fpm.stderr").read_text()[-600:]
                raise (PortTaken if "Address already in use" in why else RuntimeError)(f"php-fpm did not start: {why}")
            time.sleep(0.05)
        try:
            _wait_http(stack.url, nginx, folder / "nginx-error.log")
        except RuntimeError as exc:
            raise (PortTaken if "Address already in use" in str(exc) else RuntimeError)(str(exc)) from None
    except BaseException:
        stack.stop()
        raise
    os.environ.setdefault("FREIGABE_TEST_WEBSTACK", "1")
    return stack


PHP_APP = {
    "public/index.php": "<?php\nconst APP_VERSION = '{version}';\necho 'demo-shop ' . APP_VERSION . \"\\n\";\n",
    # The release probe goes through PHP: with $document_root, PHP's realpath cache and OPcache resolve
    # __DIR__ to the *old* release until PHP-FPM is reloaded.
    "public/release.php": "<?php\nheader('Content-Type: text/plain');\n"
    "echo trim(file_get_contents(__DIR__ . '/REVISION')), \"\\n\";\n",
    "public/health.php": "<?php\nheader('Content-Type: application/json');\n"
    "echo json_encode(['status' => 'ok', 'version' => '{version}']);\n",
}


def write_php_app(app: Path, version: str) -> None:
    for rel, text in PHP_APP.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{version}", version))
