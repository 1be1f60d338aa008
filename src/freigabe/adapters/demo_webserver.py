"""A small loopback web server for the demo: serves `<deploy_path>/current/<docroot>`.

It resolves `current` on every request (like nginx with `$realpath_root`), so a switch
is visible on the next request; it names the release that answered in `X-Release`.
Paths listed as protected need the bearer token found in `shared/.env`
(`HEALTHCHECK_TOKEN`), compared with `hmac.compare_digest`; optional basic auth guards the
whole site, as nginx does for a password-protected staging (the token then travels in
`X-Health-Token`). It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hmac
import mimetypes
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from freigabe.adapters.dotenv import parse_dotenv


class ReleaseServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        deploy_path: Path,
        docroot: str = "public",
        protected: tuple[str, ...] = (),
        token_key: str = "HEALTHCHECK_TOKEN",  # noqa: S107 — a key name, not a secret
        port: int = 0,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.basic_auth = basic_auth
        self.deploy_path = deploy_path
        self.docroot = docroot
        self.protected = protected
        self.token_key = token_key
        super().__init__(("127.0.0.1", port), ReleaseHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReleaseServer:
        threading.Thread(target=self.serve_forever, daemon=True, name="freigabe-web").start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def token(self) -> str | None:
        env = self.deploy_path / "shared" / ".env"
        try:
            return parse_dotenv(env.read_text(encoding="utf-8")).get(self.token_key)
        except OSError:
            return None


class ReleaseHandler(BaseHTTPRequestHandler):
    server: ReleaseServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: the demo prints its own progress

    def _send(self, status: int, body: bytes, ctype: str = "text/plain", release: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if release:
            self.send_header("X-Release", release)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _basic_ok(self) -> bool:
        """Like nginx `auth_basic` in front of the whole site (a password-protected staging)."""
        if self.server.basic_auth is None:
            return True
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, password = self.server.basic_auth
        return hmac.compare_digest(given.encode(), f"{user}:{password}".encode())

    def _authorized(self, path: str) -> bool:
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.server.protected):
            return True
        expected = self.server.token()
        header = self.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else self.headers.get("X-Health-Token", "")
        return bool(expected) and hmac.compare_digest(given.encode(), (expected or "").encode())

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        current = self.server.deploy_path / "current"
        if not current.is_dir():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no release is live\n")
            return
        release_dir = Path(os.path.realpath(current))
        root = release_dir / self.server.docroot
        path = unquote(urlsplit(self.path).path)
        if not self._basic_ok():
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="staging"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self._authorized(path):
            self._send(HTTPStatus.UNAUTHORIZED, b"unauthorized\n", release=release_dir.name)
            return
        rel = path.lstrip("/")
        candidates = [rel, rel + ".json", f"{rel}/index.html"] if rel else ["index.html"]
        for candidate in candidates:
            full = Path(os.path.realpath(root / candidate))
            if full.is_file() and full.is_relative_to(release_dir):
                ctype = mimetypes.guess_type(full.name)[0] or "application/octet-stream"
                self._send(HTTPStatus.OK, full.read_bytes(), ctype, release_dir.name)
                return
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", release=release_dir.name)
