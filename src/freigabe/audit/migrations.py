"""Migration findings: pure, from the facts the plan's pre-flight copy gathered.

* `migration.pending`: what the bundle's migrations will run (ok with the list, or pending when
  they could not be read);
* `migration.breaking:<migration>#<n>`: a statement the live release may fail on while it serves
  during the switch window (and after a rollback). P1 for production, P2 elsewhere. A person
  can `attest` it (the live release no longer uses what it removes: the contract step of
  expand/contract); a NOT NULL without a default whose table's row count is unknown is
  `pending` until someone does;
* `migration.unknown:<migration>#<n>`: a statement freigabe could not read: pending, attestable;
* `migration.backup`: migrations need this run's database backup before them; production
  without one is refused (P0: nothing could undo a failed or breaking migration);
* `migration.isolated`: Laravel's migrate without `--isolated` can run twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from freigabe.core.findings import Finding, Impact, finding
from freigabe.core.migrations import EXPAND_CONTRACT, MigrationFacts


@dataclass(frozen=True)
class MigrationContext:
    environment: str
    production: bool
    migrate: list[list[str]]  # the deploy's migrate commands
    backup_dir: str | None  # this run's backup folder, when the backup dumps the database
    inspected: bool  # the plan reads pending migrations in a copy (status + pretend configured)
    live_release: str | None = "?"  # what serves during the switch window; None: the first deploy


def _pending(facts: MigrationFacts, ctx: MigrationContext) -> list[Finding]:
    if facts.error:
        return [
            finding(
                "migration.pending",
                "server",
                "Pending migrations and their SQL",
                soll="the migrations the bundle runs, and their SQL, read in a copy of the bundle before approval",
                ist=f"not read: {facts.error}",
                impact="P1",
                ok=False,
                status="pending",
                fix=f"run `freigabe preflight {ctx.environment} --bundle B` to see why; once it passes, plan again",
            )
        ]
    listed = [
        {
            "migration": m.name,
            "kind": m.kind,
            "statements": [{"sql": s.sql, "kind": s.kind, "why": s.reasons} for s in m.statements],
        }
        for m in facts.pending
    ]
    counts = {k: sum(1 for m in facts.pending if m.kind == k) for k in ("breaking", "unknown")}
    ist = f"{len(facts.pending)} pending" + (": " + ", ".join(facts.names) if facts.pending else "")
    if any(counts.values()):
        ist += " (" + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ")"
    if ctx.live_release is None and facts.pending:
        ist += "; no release is live, so no old code runs against the new schema"
    return [
        finding(
            "migration.pending",
            "server",
            "Pending migrations and their SQL",
            soll="the migrations the bundle runs, and their SQL, read in a copy of the bundle before approval",
            ist=ist,
            impact="P2",
            ok=True,
            evidence={"migrations": listed, "rows": facts.rows, "dialect": facts.dialect},
        )
    ]


def _statements(facts: MigrationFacts, ctx: MigrationContext) -> list[Finding]:
    if ctx.live_release is None:  # the first deploy: no old release serves during the switch window
        return []
    out = []
    impact: Impact = "P1" if ctx.production else "P2"
    for m in facts.pending:
        for index, s in enumerate(m.statements, 1):
            if s.kind not in ("breaking", "unknown"):
                continue
            subject = f"{m.name}#{index}"
            evidence = {"migration": m.name, "statement": index, "sql": s.sql, "kind": s.kind, "why": s.reasons}
            if s.kind == "unknown":
                out.append(
                    finding(
                        "migration.unknown",
                        "server",
                        "Migration statement judged",
                        subject=subject,
                        soll="every statement classified additive or breaking before it runs",
                        ist=f"{m.name}, statement {index}: `{s.sql}` — {'; '.join(s.reasons)}",
                        impact=impact,
                        ok=False,
                        status="pending",
                        fix=f"read it: if it keeps the live release working, `freigabe attest migration.unknown:"
                        f"{subject} --env {ctx.environment} --note '…'`; otherwise split it ({EXPAND_CONTRACT})",
                        evidence=evidence,
                    )
                )
                continue
            unknown_rows = not s.certain
            key = f"migration.breaking:{subject}"
            fix = EXPAND_CONTRACT + (
                f"; if the live release no longer uses what it changes, `freigabe attest {key} --env "
                f"{ctx.environment} --note '…'`"
            )
            if unknown_rows:
                fix = (
                    f"set [environments.{ctx.environment}.server] migrations_tables so freigabe counts the rows, or, "
                    f"if {', '.join(f'`{t}`' for t in s.rows_unknown)} is empty, `freigabe attest {key} --env "
                    f"{ctx.environment} --note '…'`; otherwise add it with a default ({EXPAND_CONTRACT})"
                )
            out.append(
                finding(
                    "migration.breaking",
                    "server",
                    "Migration keeps the live release working",
                    subject=subject,
                    soll="while the old release still serves (the switch window, a rollback), only additive "
                    "changes: new tables, nullable columns or columns with a default, indexes",
                    ist=f"{m.name}, statement {index}: `{s.sql}` — {'; '.join(s.reasons)}",
                    impact=impact,
                    ok=False,
                    status="pending" if unknown_rows else None,
                    fix=fix,
                    evidence=evidence,
                )
            )
    return out


def _backup(facts: MigrationFacts | None, ctx: MigrationContext) -> list[Finding]:
    may_migrate = bool(ctx.migrate) and (facts is None or not facts.checked or bool(facts.pending))
    if not may_migrate:
        return []
    what = "pending migrations" if facts is not None and facts.pending else "the migrate step"
    if ctx.backup_dir:
        return [
            finding(
                "migration.backup",
                "server",
                "Database backup before the migrations",
                soll="a database dump of this run, taken before the migrations, that `freigabe restore` can put back",
                ist=f"{ctx.backup_dir}/db.sql is written before {what} run",
                impact="P0" if ctx.production else "P2",
                ok=True,
                evidence={"backup": ctx.backup_dir},
            )
        ]
    return [
        finding(
            "migration.backup",
            "server",
            "Database backup before the migrations",
            soll="a database dump of this run, taken before the migrations, that `freigabe restore` can put back",
            ist=f"no database dump before {what}: nothing could undo a failed or breaking migration "
            "(MariaDB commits DDL statement by statement)",
            impact="P0" if ctx.production else "P2",
            ok=False,
            status=None if ctx.production else "warn",
            fix=f"set [environments.{ctx.environment}.backup] db_dump (e.g. "
            '["mysqldump", "--single-transaction", "app"]) and keep the backup enabled',
        )
    ]


def _isolated(ctx: MigrationContext) -> list[Finding]:
    bare = [argv for argv in ctx.migrate if "artisan" in " ".join(argv) and "migrate" in argv]
    bare = [argv for argv in bare if "--isolated" not in argv and not any(a.startswith("--isolated=") for a in argv)]
    if not bare:
        return []
    return [
        finding(
            "migration.isolated",
            "server",
            "Migrations run once",
            soll="`php artisan migrate --force --isolated`: one runner migrates, any other waits it out",
            ist=f"`{' '.join(bare[0])}` has no --isolated: two runs (or two servers) can migrate at the same time",
            impact="P2",
            ok=False,
            status="warn",
            fix="add --isolated to [deploy] migrate",
        )
    ]


def evaluate(facts: MigrationFacts | None, ctx: MigrationContext) -> list[Finding]:
    out: list[Finding] = []
    if facts is not None:
        out += _pending(facts, ctx)
        out += _statements(facts, ctx)
    return out + _backup(facts, ctx) + _isolated(ctx)
