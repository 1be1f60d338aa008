"""Read what migration commands print: `migrate:status`, `migrate --pretend`, a failed `migrate`,
`db:show --counts --json`. Laravel 10+ console output, the older table and `Class: sql` forms,
and any tool that prints `name …… Ran/Pending` lines (the demo app's)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_DOTS = re.compile(r"^\s*(?P<name>\S+)\s+\.{3,}\s*(?P<right>.*?)\s*$")
_STATUS = re.compile(r"^(?:\[\d+\]\s+)?(?P<state>Ran|Pending)$", re.I)
_TABLE_ROW = re.compile(r"^\|\s*(?P<ran>Yes|No|Y|N)\s*\|\s*(?P<name>[^|\s]+)\s*\|", re.I)
_OLD_PRETEND = re.compile(r"^(?P<cls>[A-Z][A-Za-z0-9_]*):\s+(?P<sql>\S.*)$")
_STATEMENT = re.compile(r"^\s*⇂\s?(?P<sql>.*)$")


def parse_status(text: str) -> list[tuple[str, bool]]:
    """(migration, ran) in the order the command lists them."""
    rows: list[tuple[str, bool]] = []
    for line in text.splitlines():
        dotted = _DOTS.match(line)
        if dotted:
            state = _STATUS.match(dotted.group("right"))
            if state:
                rows.append((dotted.group("name"), state.group("state").lower() == "ran"))
            continue
        table = _TABLE_ROW.match(line.strip())
        if table:
            rows.append((table.group("name"), table.group("ran").upper().startswith("Y")))
    if not rows:  # some other tool: a line naming a migration and the word "pending"
        rows = [(line.split()[0], False) for line in text.splitlines() if re.search(r"\bpending\b", line, re.I)]
    return rows


def pending_names(text: str) -> list[str]:
    return [name for name, ran in parse_status(text) if not ran]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_pretend(text: str, pending: list[str]) -> dict[str, list[str]]:
    """The SQL each pending migration would run: Laravel 9.21+ prints the migration's name, then
    each query on a `⇂` line; older versions print `ClassName: query` (matched to the file name)."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        statement = _STATEMENT.match(line)
        if statement and current is not None:
            out[current].append(statement.group("sql").strip())
            continue
        dotted = _DOTS.match(line)
        if dotted and dotted.group("name") in pending:
            current = dotted.group("name")
            out.setdefault(current, [])
            continue
        old = _OLD_PRETEND.match(line.strip())
        if old:
            snake = _snake(old.group("cls"))
            name = next((p for p in pending if p == snake or p.endswith("_" + snake)), old.group("cls"))
            out.setdefault(name, []).append(old.group("sql").strip())
            current = None
    return out


@dataclass(frozen=True)
class Failure:
    migration: str | None  # the migration that failed, when the output names it
    sql: str | None  # the statement the database refused
    message: str  # the database's error


def parse_failure(text: str) -> Failure:
    migration = None
    for line in text.splitlines():
        dotted = _DOTS.match(line)
        if dotted and re.search(r"\bFAIL\b", dotted.group("right")):
            migration = dotted.group("name")
        started = re.match(r"^\s*Migrating:\s+(\S+)", line)
        if started:
            migration = started.group(1)
    sql = None
    message = ""
    for line in text.splitlines():
        if "SQLSTATE" in line or "(SQL:" in line or ", SQL:" in line:
            message = line.strip()
            found = re.search(r"\((?:Connection: [^,]+, )?SQL: (?P<sql>.*)\)\s*$", message)
            if found:
                sql = found.group("sql").strip()
                message = message[: found.start()].strip()
    if not message:
        tail = [line.strip() for line in text.splitlines() if line.strip()]
        message = tail[-1] if tail else ""
    return Failure(migration, sql, message)


def parse_row_counts(text: str) -> dict[str, int]:
    """Row counts per table from `db:show --counts --json` (`{"tables": [{"table", "rows"}]}`)."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        data = json.loads(text[start:])
    except ValueError:
        return {}
    rows: dict[str, int] = {}
    for table in data.get("tables", []) if isinstance(data, dict) else []:
        if isinstance(table, dict) and isinstance(table.get("rows"), int):
            rows[str(table.get("table") or table.get("name"))] = table["rows"]
    return rows
