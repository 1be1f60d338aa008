"""Keep secrets out of everything freigabe prints or stores.

The config names secrets by environment variable (`bearer_token_env = "HEALTHCHECK_TOKEN"`);
the values are read when needed and registered with `REDACTOR`, the process's one redactor,
and every line of output, step log, ledger entry, evidence file and report passes through
`REDACTOR.text` / `REDACTOR.data`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

MASK = "********"


@cache
def _patterns() -> list[re.Pattern[str]]:
    """Compiled on first use, not at import (`freigabe --help` redacts nothing)."""
    return [
        re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+"),
        re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
        re.compile(r"(?i)((?:password|passwd|secret|token)\s*[=:]\s*)\S+"),
    ]


class Redactor:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self._secrets: set[str] = set()
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Very short values would mask ordinary words; they are not secrets worth the name.
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def text(self, value: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        for pattern in _patterns():
            value = pattern.sub(lambda m: m.group(1) + MASK, value)
        return value

    def extend(self, values: list[str]) -> Redactor:
        for value in values:
            self.add(value)
        return self

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


# The one redactor of the process. Every output path (terminal, step logs, ledger, evidence,
# reports, refusal log) passes through it; secret values are registered when a config is loaded
# (the variables it names) and when a plan is run (the variables its checks name).
REDACTOR = Redactor()
