"""Write the plan report (Markdown, HTML, JSON) for a plan and its audit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from freigabe.config import LoadedConfig
from freigabe.core.plan import Plan
from freigabe.report import files as report_files
from freigabe.report.model import Report, build_steps
from freigabe.usecases.audit import AuditResult


def make_report(
    loaded: LoadedConfig,
    env_name: str,
    plan: Plan | None,
    audit: AuditResult,
    lang: str = "en",
    when: datetime | None = None,
) -> Report:
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return Report(
        env_name, stamp, lang, plan, audit.findings, audit.decision, audit.skipped, build_steps(loaded.config)
    )


def write_report(
    loaded: LoadedConfig,
    env_name: str,
    plan: Plan | None,
    audit: AuditResult,
    lang: str = "en",
    out_dir: Path | None = None,
) -> dict[str, Path]:
    when = datetime.now(UTC)
    report = make_report(loaded, env_name, plan, audit, lang, when)
    return report_files.write(report, out_dir or loaded.root / "reports", when)
