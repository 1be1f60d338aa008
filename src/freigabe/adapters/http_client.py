"""HTTP clients for the checks (URL, readiness, health, assets), sharing one TLS context.

Building a TLS context parses the CA bundle: about 35 ms of CPU, under the GIL. A readiness probe
every 0.1 s, or the checks of a fleet's hosts running side by side, would pay it per request and in
turn; one context, built on first use with httpx's own defaults (certifi, SSL_CERT_FILE/DIR), is
shared instead (an `ssl.SSLContext` may be used from several threads)."""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context


def client(**options: Any) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **options)


def get(url: str, **options: Any) -> httpx.Response:
    with client() as c:
        return c.get(url, **options)
