"""Pending migrations and what each statement does to the release live during the switch. Pure.

During a zero-downtime deploy the new schema is live while the old release still serves
requests (from the migrations until the switch, and again after a rollback). A statement is
*additive* when the old release keeps working with the schema it leaves (a new table, a nullable
column or one with a default, an index), *breaking* when the old release's queries can fail on it
(a dropped or renamed table or column, a changed column definition, a dropped default, NOT NULL
without a default on a table with rows), *data* when it changes rows and no schema (a backfill),
and *unknown* when it cannot be read. The SQL is parsed with sqlglot: a real parser with
MySQL/MariaDB, PostgreSQL and SQLite dialects that yields an AST of ALTER actions (ADD, DROP,
RENAME, MODIFY/CHANGE, ALTER COLUMN … DROP DEFAULT), pure Python and typed.
"""

from __future__ import annotations

import logging
from typing import Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field
from sqlglot import TokenType, exp
from sqlglot.errors import SqlglotError

Kind = Literal["additive", "breaking", "data", "unknown"]
Dialect = Literal["mysql", "postgres", "sqlite"]
SEVERITY: dict[str, int] = {"additive": 0, "data": 1, "unknown": 2, "breaking": 3}

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to a Command" notes are ours to judge

EXPAND_CONTRACT = (
    "expand/contract: in this release only add (a new column or table, nullable or with a default) and "
    "backfill it, with code that works with both schemas; remove or rename the old one in a later release, "
    "once no live release reads it"
)


ROWS_UNKNOWN = " is not known)"

# column constraints that give existing rows and the live release's inserts a value
FILLED = (
    exp.DefaultColumnConstraint,
    exp.AutoIncrementColumnConstraint,
    exp.ComputedColumnConstraint,
    exp.GeneratedAsIdentityColumnConstraint,
)


class Statement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sql: str
    kind: Kind = "unknown"
    reasons: list[str] = Field(default_factory=list)  # one sentence per action that decided the kind
    tables: list[str] = Field(default_factory=list)
    rows_unknown: list[str] = Field(default_factory=list)  # tables whose row count would decide it
    certain: bool = True  # False: breaking only if a table whose row count is unknown has rows


class Migration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    statements: list[Statement] = Field(default_factory=list)

    @property
    def kind(self) -> Kind:
        if not self.statements:
            return "additive"
        return max((s.kind for s in self.statements), key=lambda k: SEVERITY[k])


class MigrationFacts(BaseModel):
    """What the pre-flight copy of the bundle found against the target's database."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checked: bool = False  # the status command ran in the copy
    error: str = ""  # why the migrations could not be inspected
    pending: list[Migration] = Field(default_factory=list)
    sql_known: bool = False  # the pretend command ran: each migration carries its statements
    rows: dict[str, int] = Field(default_factory=dict)  # row counts of the tables that decide a statement
    dialect: Dialect = "mysql"

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.pending]

    def breaking(self) -> list[tuple[Migration, int, Statement]]:
        return [(m, i, s) for m in self.pending for i, s in enumerate(m.statements, 1) if s.kind == "breaking"]


def _name(node: exp.Expression | None) -> str:
    if node is None:
        return "?"
    if isinstance(node, exp.Table | exp.Column):
        return str(node.name)
    return str(node.name) if node.name else node.sql()


class _Classifier:
    """Walks the statements of the pending migrations in order: a table created earlier in the same
    deploy is unknown to the live release, so changing it is additive."""

    def __init__(self, rows: dict[str, int] | None, dialect: Dialect) -> None:
        self.rows = rows
        self.dialect = dialect
        self.created: set[str] = set()

    def statement(self, sql: str) -> Statement:
        try:
            parsed = [e for e in sqlglot.parse(sql, read=self.dialect) if e is not None]
        except SqlglotError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return Statement(sql=sql, kind="unknown", reasons=[f"not parsed as {self.dialect} SQL: {first}"[:300]])
        if len(parsed) != 1:
            return Statement(sql=sql, kind="unknown", reasons=["not one statement"])
        node = parsed[0]
        verdicts: list[tuple[Kind, str]] = []
        rows_unknown: list[str] = []
        tables: list[str] = sorted({t.name for t in node.find_all(exp.Table) if t.name})
        if isinstance(node, exp.Create):
            verdicts.append(self._create(node))
        elif isinstance(node, exp.Drop):
            verdicts += self._drop(node)
        elif isinstance(node, exp.Alter):
            verdicts += self._alter(node, rows_unknown)
        elif isinstance(node, exp.Insert | exp.Update | exp.Delete | exp.Merge):
            table = node.find(exp.Table)
            verdicts.append(("data", f"changes rows of `{_name(table)}` (no schema change)"))
        elif isinstance(node, exp.TruncateTable):
            verdicts.append(("data", "removes every row of " + ", ".join(f"`{t}`" for t in tables)))
        elif isinstance(node, exp.Select | exp.Set | exp.Use | exp.Transaction | exp.Commit | exp.Show):
            verdicts.append(("additive", "changes nothing in the schema"))
        elif isinstance(node, exp.Command):
            verdicts.append(self._command(node, tables))
        else:
            verdicts.append(("unknown", f"a {type(node).__name__} statement freigabe does not judge"))
        kind = max((k for k, _ in verdicts), key=lambda k: SEVERITY[k]) if verdicts else "unknown"
        breaking = [r for k, r in verdicts if k == "breaking"]
        return Statement(
            sql=sql,
            kind=kind,
            reasons=[r for _, r in verdicts],
            tables=tables,
            rows_unknown=rows_unknown,
            certain=not (breaking and all(r.endswith(ROWS_UNKNOWN) for r in breaking)),
        )

    # ---------------------------------------------------------------- statement kinds

    def _create(self, node: exp.Create) -> tuple[Kind, str]:
        what = str(node.args.get("kind") or "").upper()
        target = node.this
        name = _name(target.this if isinstance(target, exp.Schema) else target)
        if what == "TABLE":
            self.created.add(name)
            return "additive", f"creates table `{name}`"
        if what == "INDEX":
            return "additive", f"creates index `{name}`"
        if node.args.get("replace"):
            return "breaking", f"replaces {what.lower()} `{name}`: the live release reads the old definition"
        return "additive", f"creates {what.lower()} `{name}`"

    def _drop(self, node: exp.Drop) -> list[tuple[Kind, str]]:
        what = str(node.args.get("kind") or "").upper()
        out: list[tuple[Kind, str]] = []
        for table in node.args.get("tables") or node.expressions or [node.this]:
            name = _name(table)
            if what == "INDEX":
                out.append(("additive", f"drops index `{name}`: queries keep working"))
            elif what in ("TABLE", "VIEW") and name in self.created:
                out.append(("additive", f"drops {what.lower()} `{name}`, created in this deploy"))
            elif what in ("TABLE", "VIEW"):
                out.append(("breaking", f"drops {what.lower()} `{name}`: the live release's queries on it fail"))
            else:
                out.append(("breaking", f"drops {what.lower() or 'an object'} `{name}`"))
        return out

    def _alter(self, node: exp.Alter, rows_unknown: list[str]) -> list[tuple[Kind, str]]:
        table = _name(node.this)
        new = table in self.created
        out: list[tuple[Kind, str]] = []
        for action in node.args.get("actions") or []:
            kind, why = self._action(table, action, rows_unknown)
            if new and kind == "breaking":
                kind, why = "additive", f"{why.split(':')[0]} (table `{table}` is created in this deploy)"
                if table in rows_unknown:
                    rows_unknown.remove(table)
            out.append((kind, why))
        if not out:
            out.append(("additive", f"changes options of table `{table}`"))
        return out

    def _action(self, table: str, action: exp.Expression, rows_unknown: list[str]) -> tuple[Kind, str]:
        if isinstance(action, exp.ColumnDef):
            return self._add_column(table, action, rows_unknown)
        if isinstance(action, exp.Drop):
            what = str(action.args.get("kind") or "").upper()
            names = ", ".join(f"`{_name(e)}`" for e in action.args.get("tables") or action.expressions or [action.this])
            if what in ("COLUMN", ""):
                return "breaking", f"drops column {names} of `{table}`: the live release still reads and writes it"
            return "additive", f"drops {what.lower()} {names} of `{table}`: the live release's queries keep working"
        if isinstance(action, exp.RenameColumn):
            old, to = _name(action.this), _name(action.args.get("to"))
            return "breaking", f"renames column `{old}` of `{table}` to `{to}`: the live release still uses `{old}`"
        if isinstance(action, exp.ModifyColumn):
            column = action.this
            new_name = _name(column.this if isinstance(column, exp.ColumnDef) else column)
            renamed = action.args.get("rename_from")
            if renamed is not None and _name(renamed) != new_name:
                was = _name(renamed)
                return (
                    "breaking",
                    f"renames column `{was}` of `{table}` to `{new_name}`: the live release still uses `{was}`",
                )
            return (
                "breaking",
                f"changes the definition of column `{new_name}` of `{table}` (type, NULL, default): values the "
                "live release writes or reads may no longer fit",
            )
        if isinstance(action, exp.AlterColumn):
            return self._alter_column(table, action)
        if isinstance(action, exp.AlterRename):
            return (
                "breaking",
                f"renames table `{table}` to `{_name(action.this)}`: the live release still uses `{table}`",
            )
        if isinstance(action, exp.AddConstraint | exp.RenameIndex):
            return "additive", f"adds or renames an index or constraint on `{table}`"
        return "unknown", f"an ALTER TABLE action ({type(action).__name__}) freigabe does not judge"

    def _add_column(self, table: str, column: exp.ColumnDef, rows_unknown: list[str]) -> tuple[Kind, str]:
        name = _name(column.this)
        kinds = [c.args.get("kind") for c in column.args.get("constraints") or []]
        not_null = any(isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds)
        filled = any(isinstance(k, FILLED) for k in kinds)
        if not not_null:
            return "additive", f"adds nullable column `{name}` to `{table}`"
        if filled:
            return "additive", f"adds column `{name}` to `{table}` with a default"
        rows = None if self.rows is None else self.rows.get(table)
        if rows == 0:
            return "additive", f"adds NOT NULL column `{name}` without a default to `{table}`, which has no rows"
        why = (
            f"adds NOT NULL column `{name}` without a default to `{table}`"
            + (f", which has {rows} rows" if rows is not None else "")
            + ": existing rows get no value, and the live release's inserts that leave it out fail"
        )
        if rows is None:
            rows_unknown.append(table)
            why += f" (the row count of `{table}`{ROWS_UNKNOWN}"
        return "breaking", why

    def _alter_column(self, table: str, action: exp.AlterColumn) -> tuple[Kind, str]:
        name = _name(action.this)
        if action.args.get("drop") and action.args.get("allow_null"):
            return "additive", f"allows NULL in column `{name}` of `{table}`"
        if action.args.get("drop"):
            return (
                "breaking",
                f"drops the default of column `{name}` of `{table}`: the live release's inserts that rely on it fail",
            )
        if action.args.get("dtype") is not None:
            return "breaking", f"changes the type of column `{name}` of `{table}`: the live release expects the old one"
        if action.args.get("allow_null") is False:
            return "breaking", f"makes column `{name}` of `{table}` NOT NULL: the live release may still write NULL"
        return "additive", f"sets a default or allows NULL on column `{name}` of `{table}`"

    def _command(self, node: exp.Command, tables: list[str]) -> tuple[Kind, str]:
        verb = str(node.this).upper()
        rest = node.expression.name if isinstance(node.expression, exp.Literal) else ""
        tokens = sqlglot.tokenize(rest, read=self.dialect) if rest else []
        if verb == "RENAME" and tokens and tokens[0].text.upper() == "TABLE":
            names = [
                t.text
                for t in tokens[1:]
                if t.token_type in (TokenType.VAR, TokenType.IDENTIFIER) and t.text.upper() != "TO"
            ]
            pairs = ", ".join(f"`{a}` to `{b}`" for a, b in zip(names[::2], names[1::2], strict=False))
            gone = [a for a in names[::2] if a not in self.created]
            if not gone:
                return "additive", f"renames {pairs} (created in this deploy)"
            return "breaking", f"renames table {pairs}: the live release still uses the old name"
        return "unknown", f"`{verb} …` is a statement freigabe does not judge"


def classify(
    migrations: list[tuple[str, list[str]]], rows: dict[str, int] | None = None, dialect: Dialect = "mysql"
) -> list[Migration]:
    """Each statement of each pending migration, in the order they will run, classified."""
    walker = _Classifier(rows, dialect)
    return [Migration(name=name, statements=[walker.statement(sql) for sql in sqls]) for name, sqls in migrations]


def tables_needing_rows(migrations: list[Migration]) -> list[str]:
    return sorted({t for m in migrations for s in m.statements for t in s.rows_unknown})


def same_sql(a: str, b: str) -> bool:
    """Two renderings of one statement (pretend output vs. an error message): whitespace, quotes
    and letter case of keywords aside."""

    def norm(text: str) -> str:
        return " ".join(text.replace("`", "").replace('"', "").rstrip(";").split()).lower()

    return norm(a) == norm(b)
