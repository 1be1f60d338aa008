"""The HTTP checks share one TLS context: built once (it parses the CA bundle), used from every thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from freigabe.adapters import http_client


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_one_tls_context_for_every_check_in_every_thread() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            contexts = list(pool.map(lambda _: id(http_client.tls_context()), range(16)))
            answers = list(pool.map(lambda n: http_client.get(f"{url}/{n}", timeout=5).text, range(16)))
        assert len(set(contexts)) == 1
        assert answers == [f"/{n}" for n in range(16)]
        with http_client.client(follow_redirects=False) as client:
            assert client.get(f"{url}/x").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
