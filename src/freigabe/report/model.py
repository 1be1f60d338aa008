"""The report's content, assembled from the plan, the findings and the decision. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freigabe.config.models import FIX_PHRASE, Config
from freigabe.core.decision import Decision
from freigabe.core.findings import FIXABLE, Finding
from freigabe.core.names import ABORT_PHRASE
from freigabe.core.plan import Plan, Step
from freigabe.report.catalog_de import german
from freigabe.report.i18n import labels

SCHEMA_VERSION = 1


@dataclass
class Report:
    environment: str
    created_at: str
    lang: str
    plan: Plan | None
    findings: list[Finding]
    decision: Decision | None
    skipped: dict[str, str]
    build_steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def t(self) -> dict[str, str]:
        return labels(self.lang)

    def tr(self, text: str) -> str:
        """A finding's or step's text in the report's language (facts inside stay as they are)."""
        return german(text) if self.lang == "de" else text

    def reasons(self) -> list[str]:
        """The decision's reasons, in the report's language."""
        if self.decision is None:
            return []
        if self.lang != "de":
            return list(self.decision.reasons)
        by_key = {f.key: f for f in self.findings}
        lines = []
        for key in [*self.decision.blocking, *self.decision.conditions, *self.decision.waived]:
            f = by_key.get(key)
            if f is None:
                continue
            if key in self.decision.waived and f.waived:
                lines.append(f"{f.impact}: {self.tr(f.title)} — {self.t['waived'].format(**f.waived)}")
            else:
                lines.append(f"{f.impact}: {self.tr(f.title)} — {self.tr(f.ist)}")
        return lines

    def area(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.area == name]

    def delta(self) -> list[Finding]:
        order = {"fail": 0, "pending": 1, "warn": 2, "ok": 3}
        impact = {"P0": 0, "P1": 1, "P2": 2}
        return sorted(self.findings, key=lambda f: (order[f.status], impact[f.impact], f.key))

    def policy_text(self, step: Step) -> str:
        return self.t[f"{step.on_failure}_policy"]

    def preconditions(self) -> list[tuple[bool, str]]:
        rows = []
        for f in self.delta():
            title = self.tr(f.title)
            if f.waived and f.status != "ok":
                rows.append((True, f"{title}: {self.t['waived'].format(**f.waived)}"))
            elif f.status == "ok":
                rows.append((True, f"{title}: {self.tr(f.ist)}"))
            elif f.status in ("fail", "pending"):
                note = f" ({self.t['attested'].format(**f.attested)})" if f.attested else ""
                rows.append((False, f"{title}: {self.tr(f.fix or f.soll)}{note}"))
        return rows

    def acceptance(self) -> list[str]:
        if self.plan is None:
            return []
        steps = self.plan.shown_steps
        gates = [s for s in steps if s.id.startswith("gate.")]
        health = [s for s in steps if s.action == "health.check"]
        out = [self.t["acc_gates"].format(n=len(gates)), self.t["acc_health"].format(n=len(health))]
        if any(s.action == "assets.check" for s in steps):
            out.append(self.t["acc_assets"])
        planned = self.migrations()
        if planned:
            out.append(self.t["acc_migrations"].format(n=len(planned)))
        out += [self.t["acc_release"].format(release=self.plan.release), self.t["acc_manual"], self.t["acc_evidence"]]
        return out

    def migrations(self) -> list[dict[str, Any]]:
        """The pending migrations the plan's migrate step carries: name, statements, kinds, and the
        reasons from the `migration.pending` finding's evidence."""
        if self.plan is None:
            return []
        steps = self.plan.shown_steps
        planned = next((s.args.get("planned") for s in steps if s.action == "migrations.run"), None) or []
        listed: list[dict[str, Any]] = next(
            (f.evidence.get("migrations", []) for f in self.findings if f.id == "migration.pending"), []
        )
        why = {m["migration"]: ["; ".join(s.get("why", [])) for s in m.get("statements", [])] for m in listed}
        out = []
        for m in planned:
            reasons = why.get(m["name"], [])
            statements = [
                {"sql": sql, "kind": kind, "why": reasons[i] if i < len(reasons) else ""}
                for i, (sql, kind) in enumerate(zip(m["statements"], m["kinds"], strict=False))
            ]
            out.append({"name": m["name"], "statements": statements})
        return out

    def abort_criteria(self) -> tuple[list[str], list[str]]:
        before = [
            self.t["abort_blocking"].format(f=f"{f.key} — {self.tr(f.title)}")
            for f in self.findings
            if self.decision and f.key in self.decision.blocking
        ]
        before.append(self.t["no_approval"])
        during = []
        for step in self.plan.shown_steps if self.plan else []:
            if step.on_failure == "abort":
                during.append(self.t["abort_gate"].format(s=step.id))
            elif step.on_failure == "rollback":
                during.append(self.t["abort_health"].format(s=step.id))
        return before, during

    def next_steps(self) -> list[tuple[str, str]]:
        env = self.environment
        steps: list[tuple[str, str]] = []
        if self.plan is not None and (self.decision is None or self.decision.verdict != "NO-GO"):
            steps.append(
                (
                    self.t["cmd_deploy"],
                    f"freigabe deploy {env} --plan {self.plan.id[:16]} --approve '{self.plan.approval_phrase}'",
                )
            )
        for f in self.findings:
            if f.status in ("fail", "pending", "warn") and f.id in FIXABLE:
                steps.append((self.t["cmd_fix"], f"freigabe fix {f.key} --env {env} --approve '{FIX_PHRASE}'"))
            if f.status == "pending" and not f.attested:
                steps.append((self.t["cmd_attest"], f"freigabe attest {f.key} --env {env} --note '…'"))
        steps.append((self.t["cmd_abort"], f"freigabe deploy {env} --plan … --approve '{ABORT_PHRASE}'"))
        return steps

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "freigabe.report",
            "environment": self.environment,
            "created_at": self.created_at,
            "lang": self.lang,
            "plan": self.plan.to_json() if self.plan else None,
            "decision": self.decision.model_dump() if self.decision else None,
            "findings": [{**f.model_dump(mode="json"), "key": f.key} for f in self.findings],
            "skipped": self.skipped,
            "build": self.build_steps,
        }


def build_steps(config: Config) -> list[dict[str, Any]]:
    """The build phase (reference plan steps 1-4), from the config."""
    b, g = config.build, config.gates
    rows: list[dict[str, Any]] = [
        {"title": " ".join(argv), "source": "SOLL 1", "on_failure": "abort"} for argv in b.commands
    ]
    rows += [{"title": " ".join(argv), "source": "SOLL 2", "on_failure": "abort"} for argv in b.checks]
    rows += [{"title": " ".join(argv), "source": "SOLL 1", "on_failure": "abort"} for argv in b.finalize]
    rows.append(
        {
            "title": f"Layer-1 gates: {len(g.required_files) + len(g.required_dirs)} checks",
            "source": "SOLL 3",
            "on_failure": "abort",
        }
    )
    rows.append(
        {
            "title": f"deployment-bundle-<sha>.tar.gz + .sha256, retention {b.retention_days} days",
            "source": "SOLL 4",
            "on_failure": "abort",
        }
    )
    return rows
