"""Migrations, the pure parts: statements classified by a real SQL parse, tool output read, findings
from facts, the decision with attestations, what the ledger says about a schema ahead of the code."""

from __future__ import annotations

from typing import Any

import pytest

from freigabe.adapters.migrate_output import (
    parse_failure,
    parse_pretend,
    parse_row_counts,
    parse_status,
    pending_names,
)
from freigabe.audit.migrations import MigrationContext, evaluate
from freigabe.config.models import DecisionPolicy
from freigabe.core.decision import decide
from freigabe.core.migration_history import describe, schema_ahead_of
from freigabe.core.migrations import MigrationFacts, classify, same_sql
from freigabe.usecases.attest import apply_attestations


def kinds(sql: str, rows: dict[str, int] | None = None, dialect: Any = "mysql") -> str:
    (migration,) = classify([("m", [sql])], rows, dialect)
    return migration.statements[0].kind


@pytest.mark.parametrize(
    "sql",
    [
        "create table `flights` (`id` bigint unsigned not null auto_increment primary key, `name` varchar(255) "
        "not null) default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
        "alter table `users` add `nick` varchar(255) null",
        "alter table `users` add `nick` varchar(255)",
        "alter table `users` add `votes` int not null default '0'",
        "alter table `users` add `id2` bigint unsigned not null auto_increment unique",
        "alter table `users` add index `users_email_index`(`email`)",
        "alter table `users` add unique `users_email_unique`(`email`)",
        "alter table `users` add constraint `users_team_id_foreign` foreign key (`team_id`) references `teams` (`id`)",
        "create index `idx` on `users` (`email`)",
        "alter table `users` drop index `users_email_index`",
        "alter table `users` alter `name` set default 'x'",
        "alter table `users` comment = 'people'",
        "select sleep(1)",
    ],
)
def test_additive_statements(sql: str) -> None:
    assert kinds(sql) == "additive"


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("alter table `users` drop `votes`", "drops column `votes` of `users`"),
        ("alter table `users` drop column `a`, drop column `b`", "drops column `b` of `users`"),
        ("drop table `users`", "drops table `users`"),
        ("drop table if exists `users`", "drops table `users`"),
        ("alter table `users` rename column `name` to `title`", "renames column `name` of `users` to `title`"),
        ("alter table `users` change `name` `title` varchar(10)", "renames column `name` of `users` to `title`"),
        ("alter table `users` modify `name` text not null", "changes the definition of column `name`"),
        ("alter table `users` alter column `name` drop default", "drops the default of column `name`"),
        ("rename table `users` to `people`", "renames table `users` to `people`"),
        ("alter table `users` rename to `people`", "renames table `users` to `people`"),
        ("alter table `users` add `votes` int not null", "adds NOT NULL column `votes` without a default"),
    ],
)
def test_breaking_statements(sql: str, why: str) -> None:
    (migration,) = classify([("m", [sql])], {"users": 3})
    statement = migration.statements[0]
    assert statement.kind == "breaking", statement
    assert any(why in reason for reason in statement.reasons), statement.reasons


def test_not_null_without_default_depends_on_the_rows() -> None:
    sql = "alter table `users` add `votes` int not null"
    assert kinds(sql, {"users": 0}) == "additive"
    (filled,) = classify([("m", [sql])], {"users": 5})
    assert filled.statements[0].certain and "which has 5 rows" in filled.statements[0].reasons[0]
    (unknown,) = classify([("m", [sql])], None)
    assert unknown.statements[0].kind == "breaking" and not unknown.statements[0].certain
    assert unknown.statements[0].rows_unknown == ["users"]
    # a statement that also drops a column is breaking for certain, whatever the rows
    (both,) = classify([("m", ["alter table `users` add `votes` int not null, drop `name`"])], None)
    assert both.statements[0].certain


def test_a_table_created_in_the_same_deploy_is_not_the_live_release_s() -> None:
    migrations = classify(
        [
            ("a", ["create table `orders` (`id` int primary key)"]),
            ("b", ["alter table `orders` add `total` int not null", "alter table `orders` drop `id`"]),
            ("c", ["rename table `orders` to `purchases`", "drop table `purchases`"]),
        ]
    )
    assert [s.kind for m in migrations for s in m.statements] == ["additive"] * 4 + ["breaking"]
    assert migrations[1].statements[0].rows_unknown == []  # no row count needed for a new table


def test_data_unknown_and_other_dialects() -> None:
    assert kinds("update `users` set `votes` = 0 where `votes` is null") == "data"
    assert kinds("insert into `settings` (`key`, `value`) values ('a', 'b')") == "data"
    assert kinds("truncate table `users`") == "data"
    assert kinds("garbage (((") == "unknown"
    assert kinds("alter table users add column (a int, b int)") == "unknown"  # not in sqlglot's MySQL grammar
    assert kinds("alter table users alter column x type bigint", dialect="postgres") == "breaking"
    assert kinds("alter table users alter column x set not null", dialect="postgres") == "breaking"
    assert kinds("alter table users alter column x drop not null", dialect="postgres") == "additive"
    assert kinds("ALTER TABLE products DROP COLUMN name", dialect="sqlite") == "breaking"
    assert kinds("ALTER TABLE products ADD COLUMN price INTEGER", dialect="sqlite") == "additive"
    assert same_sql("alter table `products` drop `name`;", "ALTER TABLE products  drop name")


LARAVEL_11_STATUS = """
  Migration name .............................................................. Batch / Status
  2014_10_12_000000_create_users_table ................................................ [1] Ran
  2019_12_14_000001_create_personal_access_tokens_table .................................. Pending
  2025_02_01_000001_add_price ............................................................. Pending
"""
LARAVEL_8_STATUS = """
+------+------------------------------------------------+-------+
| Ran? | Migration                                      | Batch |
+------+------------------------------------------------+-------+
| Yes  | 2014_10_12_000000_create_users_table           | 1     |
| No   | 2019_08_19_000000_create_failed_jobs_table     |       |
+------+------------------------------------------------+-------+
"""


def test_status_in_every_shape() -> None:
    assert pending_names(LARAVEL_11_STATUS) == [
        "2019_12_14_000001_create_personal_access_tokens_table",
        "2025_02_01_000001_add_price",
    ]
    assert parse_status(LARAVEL_8_STATUS) == [
        ("2014_10_12_000000_create_users_table", True),
        ("2019_08_19_000000_create_failed_jobs_table", False),
    ]
    assert pending_names("001_products.sql .......... Ran\n002_orders.sql .......... Pending\n") == ["002_orders.sql"]
    assert pending_names("\n   INFO  Nothing to migrate.\n") == []


def test_pretend_in_both_shapes() -> None:
    new = """
   INFO  Running migrations.

  2025_02_01_000001_add_price ...................................................................
  ⇂ alter table `products` add `price` int null
  ⇂ create index `products_name_index` on `products` (`name`)
  2025_02_01_000002_drop_name ...................................................................
  ⇂ alter table `products` drop `name`
"""
    assert parse_pretend(new, ["2025_02_01_000001_add_price", "2025_02_01_000002_drop_name"]) == {
        "2025_02_01_000001_add_price": [
            "alter table `products` add `price` int null",
            "create index `products_name_index` on `products` (`name`)",
        ],
        "2025_02_01_000002_drop_name": ["alter table `products` drop `name`"],
    }
    old = (
        "CreateFlightsTable: create table `flights` (`id` int)\nCreateFlightsTable: alter table `flights` add `x` int\n"
    )
    assert parse_pretend(old, ["2020_01_01_000000_create_flights_table"]) == {
        "2020_01_01_000000_create_flights_table": [
            "create table `flights` (`id` int)",
            "alter table `flights` add `x` int",
        ]
    }


def test_a_failure_names_the_migration_and_the_statement() -> None:
    laravel_11 = """
  2025_02_01_000006_half ................................................ 3.21ms FAIL

   Illuminate\\Database\\QueryException

  SQLSTATE[42S02]: Base table or view not found: 1146 Table 'shop.nope' doesn't exist (Connection: mysql, SQL: alter table `nope` add `x` int null)
"""
    failure = parse_failure(laravel_11)
    assert failure.migration == "2025_02_01_000006_half"
    assert failure.sql == "alter table `nope` add `x` int null"
    assert failure.message.startswith("SQLSTATE[42S02]") and "(Connection" not in failure.message
    laravel_8 = "Migrating: 2020_01_01_000000_x\n\n  SQLSTATE[42000]: Syntax error (SQL: alter table t drop y)\n"
    assert parse_failure(laravel_8) == type(failure)(
        "2020_01_01_000000_x", "alter table t drop y", "SQLSTATE[42000]: Syntax error"
    )
    assert parse_row_counts('{"platform":{},"tables":[{"table":"products","rows":2},{"table":"x","rows":null}]}') == {
        "products": 2
    }
    assert parse_row_counts("no json") == {}


def _facts(*migrations: tuple[str, list[str]], rows: dict[str, int] | None = None) -> MigrationFacts:
    return MigrationFacts(checked=True, sql_known=True, pending=classify(list(migrations), rows), rows=rows or {})


def _ctx(production: bool, backup: str | None = "/srv/backups/20260101_000000", **kw: Any) -> MigrationContext:
    return MigrationContext(
        environment="production" if production else "staging",
        production=production,
        migrate=kw.get("migrate", [["php", "artisan", "migrate", "--force", "--isolated"]]),
        backup_dir=backup,
        inspected=True,
        live_release=kw.get("live", "20260101_000000-abcdef12"),
    )


def test_findings_from_facts() -> None:
    facts = _facts(
        ("2025_a", ["alter table `products` add `price` int null"]),
        ("2025_b", ["alter table `products` drop `name`", "alter table `orders` add `total` int not null", "foo"]),
    )
    rows = {f.key: f for f in evaluate(facts, _ctx(production=True))}
    assert rows["migration.pending"].status == "ok" and "2 pending: 2025_a, 2025_b" in rows["migration.pending"].ist
    drop = rows["migration.breaking:2025_b#1"]
    assert (drop.status, drop.impact) == ("fail", "P1") and "expand/contract" in drop.fix
    unknown_rows = rows["migration.breaking:2025_b#2"]
    assert unknown_rows.status == "pending" and "migrations_tables" in unknown_rows.fix
    assert rows["migration.unknown:2025_b#3"].status == "pending"
    assert rows["migration.backup"].status == "ok"
    assert "migration.isolated" not in rows
    staging = {f.key: f for f in evaluate(facts, _ctx(production=False))}
    assert staging["migration.breaking:2025_b#1"].impact == "P2"
    first = {f.key: f for f in evaluate(facts, _ctx(production=True, live=None))}
    assert not [k for k in first if k.startswith(("migration.breaking", "migration.unknown"))]  # no old code runs
    assert "no release is live" in first["migration.pending"].ist


def test_backup_isolated_and_unreadable_migrations() -> None:
    facts = _facts(("2025_a", ["alter table `products` add `price` int null"]))
    no_backup = {f.key: f for f in evaluate(facts, _ctx(production=True, backup=None))}
    assert (no_backup["migration.backup"].status, no_backup["migration.backup"].impact) == ("fail", "P0")
    assert decide(list(no_backup.values()), "production").verdict == "NO-GO"
    staging = {f.key: f for f in evaluate(facts, _ctx(production=False, backup=None))}
    assert staging["migration.backup"].status == "warn"
    nothing = {f.key for f in evaluate(_facts(), _ctx(production=True, backup=None))}
    assert "migration.backup" not in nothing  # nothing pending: nothing to undo
    not_inspected = {f.key: f for f in evaluate(None, _ctx(production=True, backup=None))}
    assert not_inspected["migration.backup"].status == "fail"  # migrations may run, unseen
    bare = {f.key: f for f in evaluate(facts, _ctx(False, migrate=[["php", "artisan", "migrate", "--force"]]))}
    assert bare["migration.isolated"].status == "warn"
    broken = {f.key: f for f in evaluate(MigrationFacts(error="lock held"), _ctx(production=True))}
    assert broken["migration.pending"].status == "pending" and "lock held" in broken["migration.pending"].ist


def test_an_attested_breaking_statement_is_a_condition_bound_to_its_sql() -> None:
    policy = DecisionPolicy()
    facts = _facts(("2025_b", ["alter table `products` drop `name`"]))
    found = evaluate(facts, _ctx(production=True))
    key = "migration.breaking:2025_b#1"
    assert decide(found, "production", policy).blocking == [key]
    from freigabe.usecases.attest import _basis

    drop = next(f for f in found if f.key == key)
    entry = {
        "event": "finding.attested",
        "ts": "2026-01-01T00:00:00.000Z",
        "data": {"finding": key, "by": "ana", "note": "v1 no longer reads name", "basis": _basis(drop)},
    }
    attested = apply_attestations(found, [entry])
    decision = decide(attested, "production", policy)
    assert decision.verdict == "CONDITIONAL GO" and key in decision.conditions
    assert any("attested, not verified" in r for r in decision.reasons)
    changed = evaluate(_facts(("2025_b", ["alter table `products` drop `title`"])), _ctx(production=True))
    lapsed = apply_attestations(changed, [entry])
    assert decide(lapsed, "production", policy).verdict == "NO-GO"  # other SQL: the attestation lapsed
    assert "facts changed" in next(f for f in lapsed if f.key == key).evidence["attestation_lapsed"]


def _entry(seq: int, event: str, run: str, ts: str, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "event": event, "run": run, "ts": ts, "data": data}


def test_the_schema_ahead_of_a_release_and_the_restore_that_undoes_it() -> None:
    backup = {"dir": "/srv/backups/20260102_000000", "stamp": "20260102_000000", "db_sha256": "ab"}
    entries = [
        _entry(1, "run.started", "r1", "2026-01-01T00:00:00.000Z", kind="deploy", release="R1"),
        _entry(2, "migrations.applied", "r1", "2026-01-01T00:00:01.000Z", release="R1", migrations=["m1"], breaking=[]),
        _entry(3, "run.started", "r2", "2026-01-02T00:00:00.000Z", kind="deploy", release="R2"),
        _entry(
            4,
            "migrations.applied",
            "r2",
            "2026-01-02T00:00:05.000Z",
            release="R2",
            migrations=["m2"],
            breaking=[{"migration": "m2", "statement": 1, "sql": "alter table t drop c"}],
            backup=backup,
        ),
    ]
    ahead = schema_ahead_of(entries, "R1")
    assert ahead.migrations == ["m2"] and ahead.backup == "20260102_000000"
    text = describe(ahead, "production")
    assert (
        "the schema is ahead of R1: m2 ran" in text and "freigabe restore production --backup 20260102_000000" in text
    )
    assert not schema_ahead_of(entries, "R2")  # its own migrations
    restored = [
        *entries,
        _entry(5, "plan.approved", "r3", "2026-01-03T00:00:00.000Z", kind="restore", backup="20260102_000000"),
        _entry(6, "step.finished", "r3", "2026-01-03T00:00:01.000Z", step="db.restore", outcome="ok"),
    ]
    assert not schema_ahead_of(restored, "R1")  # the backup from before m2 is back
    older = [*restored[:4], {**restored[4], "data": {**restored[4]["data"], "backup": "20251231_000000"}}, restored[5]]
    assert not schema_ahead_of(older, "R1")  # an older backup predates m2 too
    newer = [*restored[:4], {**restored[4], "data": {**restored[4]["data"], "backup": "20260103_000000"}}, restored[5]]
    assert schema_ahead_of(newer, "R1").migrations == ["m2"]  # a backup taken after m2 still holds it
    additive = schema_ahead_of(
        [*entries[:2], entries[2], {**entries[3], "data": {**entries[3]["data"], "breaking": []}}], "R1"
    )
    assert "they are additive" in describe(additive, "staging") and "restore" not in describe(additive, "staging")
