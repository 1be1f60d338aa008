"""migrations.pending: in a copy of the bundle, the migrations it would run against the target's
database, the SQL of each (pretend), classified additive or breaking (read-only)."""

from __future__ import annotations

from freigabe.adapters.migrate_output import parse_pretend, parse_row_counts, pending_names
from freigabe.core.migrations import MigrationFacts, classify, tables_needing_rows
from freigabe.core.plan import Step
from freigabe.core.steps import MigrationsPending
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def run(ctx: RunContext, step: Step, args: MigrationsPending) -> Outcome:
    log = ctx.log(step)
    with log.open("w", encoding="utf-8") as fh:

        def call(argv: list[str]) -> tuple[bool, str]:
            result = ctx.t.run(argv, cwd=args.cwd, timeout=args.timeout)
            text = ctx.redactor.text(result.output)
            fh.write(f"$ {' '.join(argv)}\n{text}\n")
            if not result.ok:
                return False, f"`{' '.join(argv)}` exit {result.returncode}: {ctx.redactor.text(result.tail(1))}"
            return True, text

        ok, status = call(args.argv)
        if not ok:
            return Outcome(False, status)
        pending = pending_names(status)
        statements: dict[str, list[str]] = {}
        if args.pretend_argv and pending:
            ok, pretend = call(args.pretend_argv)
            if not ok:
                return Outcome(False, pretend, {"pending": pending})
            statements = parse_pretend(pretend, pending)
        pairs = [(name, statements.get(name, [])) for name in pending]
        migrations = classify(pairs, None, args.dialect)
        rows: dict[str, int] = {}
        needed = tables_needing_rows(migrations)
        if needed and args.tables_argv:
            ok, counted = call(args.tables_argv)
            if ok:
                rows = {t: n for t, n in parse_row_counts(counted).items() if t in needed}
                migrations = classify(pairs, rows, args.dialect)
    facts = MigrationFacts(
        checked=True,
        pending=migrations,
        sql_known=bool(args.pretend_argv),
        rows=rows,
        dialect=args.dialect,
    )
    breaking = {m.name for m, _, _ in facts.breaking()}
    summary = f"{len(pending)} pending"
    if pending:
        summary += (
            (f" ({len(breaking)} with breaking statements)" if breaking else "")
            + ": "
            + "; ".join(
                f"{m.name} ({plural(len(m.statements), 'statement')}, {m.kind})" if facts.sql_known else m.name
                for m in migrations[:8]
            )
        )
    return Outcome(True, summary, {"pending": pending, "facts": facts.model_dump(mode="json"), "log": str(log)})
