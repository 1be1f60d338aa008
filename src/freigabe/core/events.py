"""Every kind of ledger entry, in one place. Pure.

The recorder accepts only these names (mypy checks the literal; the recorder checks at run
time), so a new kind of record is added here, where `status`, `evidence` and the audit that
read the ledger can find it.
"""

from __future__ import annotations

from typing import Literal, get_args

Event = Literal[
    # a run of a plan
    "plan.approved",
    "run.started",
    "step.started",
    "step.finished",
    "switch",
    "run.interrupted",
    "rollback.started",
    "rollback.verified",
    "rollback.failed",
    "rollback.impossible",
    "run.finished",
    # the schema: what a run's migrations did, with the backup that can undo them
    "migrations.applied",
    "migrations.failed",
    # a fleet's run, on each of its hosts (the run id ties them)
    "fleet.switched",
    "fleet.skipped",
    # people
    "finding.attested",
    "finding.waived",
    "finding.unwaived",
    # the ledger itself, and what a killed run left running
    "ledger.repaired",
    "orphans.ended",
]

EVENTS: frozenset[str] = frozenset(get_args(Event))

# What people decided about findings: read from the whole history (they are few), while
# everything else `status` and the audit need sits in the newest entries.
DECISION_EVENTS: frozenset[str] = frozenset({"finding.attested", "finding.waived", "finding.unwaived"})
