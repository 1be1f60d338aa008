"""Write the report as Markdown, HTML and JSON: DEPLOY_<ENV>_<YYYY-MM-DD_HHMM>.{md,html,json}."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from freigabe.core.redact import REDACTOR
from freigabe.report import markdown
from freigabe.report.flowchart import svg
from freigabe.report.model import Report

_JINJA = Environment(
    loader=PackageLoader("freigabe.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def html(report: Report, md_text: str | None = None) -> str:
    t = report.t
    chart = (
        svg(report.plan.shown_steps, t["abort_policy"], t["rollback_policy"], report.plan.release)
        if report.plan
        else ""
    )
    return _JINJA.get_template("report.html.j2").render(
        r=report, markdown=md_text if md_text is not None else markdown.render(report), flowchart_svg=chart
    )


def write(report: Report, out_dir: Path, when: datetime) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    base = f"DEPLOY_{report.environment.upper()}_{when.strftime('%Y-%m-%d_%H%M')}"
    stem, n = base, 1
    while any((out_dir / f"{stem}.{ext}").exists() for ext in ("md", "html", "json")):
        n += 1
        stem = f"{base}_{n}"  # a second plan in the same minute never overwrites the first
    md_text = REDACTOR.text(markdown.render(report))
    paths = {"md": out_dir / f"{stem}.md", "html": out_dir / f"{stem}.html", "json": out_dir / f"{stem}.json"}
    paths["md"].write_text(md_text, encoding="utf-8")
    paths["html"].write_text(REDACTOR.text(html(report, md_text)), encoding="utf-8")
    data = REDACTOR.data(report.to_json())
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return paths
