"""URLs of an environment: resolved against its base, and whether one stays on its origin. Pure.

Credentials (a bearer token, basic auth) are sent only to the environment's own origin:
scheme, host and port of its `url`. A health, probe or asset URL elsewhere gets none.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def resolve_url(base: str, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return base.rstrip("/") + "/" + url.lstrip("/")


def origin(url: str) -> str:
    """scheme://host:port, with the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        port = -1
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def same_origin(url: str, base: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and origin(url) == origin(base)
