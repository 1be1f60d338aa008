"""Refused and cancelled approvals: they change nothing on the target, so they are noted locally.

`.freigabe/refusals/<env>.jsonl` beside freigabe.toml, one JSON line each (redacted); `status`
lists them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from freigabe.adapters.identity import actor
from freigabe.config import LoadedConfig
from freigabe.core.ledger import utc_now
from freigabe.core.plan import Plan
from freigabe.core.redact import REDACTOR
from freigabe.errors import ApprovalError
from freigabe.usecases.planning import Aborted


def _path(state: Path, env: str) -> Path:
    return state / "refusals" / f"{env}.jsonl"


def note_refusal(loaded: LoadedConfig, env: str, event: str, **data: Any) -> None:
    path = _path(loaded.state_dir, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"ts": utc_now(), "env": env, "event": event, "data": REDACTOR.data(data)})
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_refusals(loaded: LoadedConfig, env: str) -> list[dict[str, Any]]:
    path = _path(loaded.state_dir, env)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


@contextmanager
def refusals_noted(loaded: LoadedConfig, plan: Plan) -> Iterator[None]:
    try:
        yield
    except Aborted as exc:
        note_refusal(loaded, plan.environment, "plan.aborted", plan=plan.id, by=actor(), reason=exc.message)
        raise
    except ApprovalError as exc:
        note_refusal(loaded, plan.environment, "approval.refused", plan=plan.id, by=actor(), reason=exc.message)
        raise
