"""migrations.run: the migrations, once, in the new release, after this run's backup.

Before: the backup that can undo them exists (production refuses without it), and what is pending
now is what the plan showed (names, and the SQL where the plan had it): a database that moved on
since the plan is refused, not migrated. During: the command's output streams into the step log.
After: `migrate:status` again. A success that left a planned migration pending fails (another
runner held `--isolated`'s lock). A failure says which migration and statement failed and what
the schema is now: MariaDB commits DDL statement by statement, so the statements before the
failing one stay applied although the migration is not recorded as ran.
"""

from __future__ import annotations

import posixpath
from typing import Any

from freigabe.adapters.migrate_output import parse_failure, parse_pretend, pending_names
from freigabe.core.migrations import same_sql
from freigabe.core.output import headline
from freigabe.core.plan import Step
from freigabe.core.steps import MigrationsRun
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def _backup(ctx: RunContext, folder: str | None) -> dict[str, str] | None:
    """The database dump of this run's backup, as its SHA256SUMS names it."""
    if not folder:
        return None
    sums = f"{folder}/SHA256SUMS"
    data = ctx.t.read_optional(sums)  # one look
    if data is None:
        return None
    for line in data.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if name.strip() == "db.sql":
            return {"dir": folder, "stamp": posixpath.basename(folder), "db_sha256": digest}
    return None


def restore_hint(env: str, backup: dict[str, str] | None) -> str:
    if backup is None:
        return "no database backup of this run can undo them"
    return (
        f"backup {backup['dir']} holds the database from before them: "
        f"`freigabe restore {env} --backup {backup['stamp']}` (PROD-FIX FREIGEGEBEN)"
    )


def run(ctx: RunContext, step: Step, args: MigrationsRun) -> Outcome:
    env = ctx.plan.environment
    planned = args.planned
    names = [m.name for m in planned] if planned is not None else None
    backup = _backup(ctx, args.backup_dir)
    if args.require_backup and backup is None and names != []:
        return Outcome(
            False,
            f"no database backup of this run in {args.backup_dir or '(no backup step)'}: migrations on {env} run "
            "only after a backup that can undo them; the backup step failed or was skipped — fix it and deploy again",
        )
    log = ctx.log(step)
    with log.open("w", encoding="utf-8") as fh:

        def call(argv: list[str], stream: bool = False) -> tuple[int, str]:
            fh.write(f"$ {' '.join(argv)}\n")
            fh.flush()

            def sink(line: str) -> None:
                clean = ctx.redactor.text(line)
                fh.write(clean + "\n")
                ctx.reporter.output(step, clean)

            result = ctx.t.run(
                argv,
                cwd=args.cwd,
                timeout=args.timeout,
                env={"FREIGABE_ENV": env, "FREIGABE_RELEASE": ctx.plan.release, "FREIGABE_RUN": ctx.run},
                on_line=sink if stream else None,
            )
            text = ctx.redactor.text(result.output)
            if not stream:
                fh.write(text + "\n")
            return (124 if result.timed_out else result.returncode), text

        before: list[str] | None = None
        if args.status_argv:
            code, text = call(args.status_argv)
            if code != 0:
                return Outcome(False, f"`{' '.join(args.status_argv)}` exit {code} before migrating: {headline(text)}")
            before = pending_names(text)
        if names is not None and before is not None and before != names:
            return Outcome(
                False,
                f"the database changed since the plan: pending now {', '.join(before) or 'none'}, the plan showed "
                f"{', '.join(names) or 'none'}; nothing was migrated — make a new plan and approve that one",
            )
        if planned and args.pretend_argv and any(m.statements for m in planned) and before:
            code, text = call(args.pretend_argv)
            now = parse_pretend(text, before) if code == 0 else {}
            for m in planned:
                sql = now.get(m.name, [])
                if len(sql) != len(m.statements) or not all(map(same_sql, sql, m.statements)):
                    return Outcome(
                        False,
                        f"the SQL of {m.name} is not the SQL the plan showed; nothing was migrated — make a new "
                        "plan and approve that one",
                    )
        code, output = call(args.argv, stream=True)
        after: list[str] | None = None
        if args.status_argv:
            status_code, text = call(args.status_argv)
            after = pending_names(text) if status_code == 0 else None
    expected = names if names is not None else before
    applied = [n for n in expected or [] if after is not None and n not in after]
    details: dict[str, Any] = {
        "exit": code,
        "log": str(log),
        "pending_before": before,
        "pending_after": after,
        "applied": applied,
        "backup": backup,
    }
    breaking = [
        {"migration": m.name, "statement": i, "sql": m.statements[i - 1] if i <= len(m.statements) else ""}
        for m in planned or []
        if m.name in applied
        for i in m.breaking
    ]
    if code == 0 and after is not None and expected and any(n in after for n in expected):
        left = [n for n in expected if n in after]
        code = -1
        output = (
            f"the migrate command exited 0 but {', '.join(left)} is still pending (another runner held the "
            "`--isolated` lock, or the command skipped it)"
        )
    if code == 0:
        ctx.recorder.record(
            "migrations.applied",
            release=ctx.plan.release,
            migrations=applied,
            breaking=breaking,
            backup=backup,
        )
        what = plural(len(applied), "migration") + " applied" if applied else "nothing to migrate"
        return Outcome(
            True, f"{what}" + (f"; {restore_hint(env, backup)}" if applied else ""), details | {"breaking": breaking}
        )
    failure = parse_failure(output) if code != -1 else None
    text = _failure_text(args, failure, output, expected or [], after, applied, backup, env)
    ctx.recorder.record(
        "migrations.failed",
        release=ctx.plan.release,
        migration=failure.migration if failure else None,
        sql=failure.sql if failure else None,
        applied=applied,
        pending_after=after,
        breaking=breaking,
        backup=backup,
    )
    return Outcome(False, text, details | {"failure": failure.__dict__ if failure else None})


def _failure_text(
    args: MigrationsRun,
    failure: Any,
    output: str,
    expected: list[str],
    after: list[str] | None,
    applied: list[str],
    backup: dict[str, str] | None,
    env: str,
) -> str:
    if failure is None:
        said = output
    else:
        where = failure.migration or "a migration"
        planned = next((m for m in args.planned or [] if m.name == failure.migration), None)
        index = None
        if planned is not None and failure.sql:
            index = next((i for i, sql in enumerate(planned.statements, 1) if same_sql(sql, failure.sql)), None)
        said = f"{where} failed"
        if index is not None and planned is not None:
            said += f" at statement {index} of {len(planned.statements)}"
        if failure.sql:
            said += f" (`{failure.sql}`)"
        said += f": {failure.message or headline(output) or 'no output'}"
        if index is not None and index > 1:
            ran = "statement 1 ran and stays" if index == 2 else f"statements 1–{index - 1} ran and stay"
            said += (
                f"; its {ran} applied (MariaDB commits each DDL statement at once) although {where} is not "
                "recorded as ran"
            )
        elif index == 1:
            said += f"; none of {where}'s statements ran"
    if after is None:
        state = "the schema state is unknown: the status command did not answer after the failure"
    else:
        still = [n for n in expected if n in after]
        state = (
            f"migrate:status after the failure: {', '.join(applied) or 'none'} ran, "
            f"{', '.join(still) or 'none'} pending"
        )
    return f"{said}; {state}; {restore_hint(env, backup)}"
