"""GitHub-flavoured Markdown with a Mermaid flowchart. Every dynamic text is escaped."""

from __future__ import annotations

import re

from freigabe.core.findings import Finding
from freigabe.report.flowchart import mermaid
from freigabe.report.model import Report

# Text-presentation signs only: none of them needs an emoji font.
ICON = {"ok": "✔", "fail": "✘", "pending": "?", "warn": "!"}
VERDICT_ICON = {"GO": "✔", "CONDITIONAL GO": "!", "NO-GO": "✘"}


def md(text: object) -> str:
    """Escape for a Markdown table cell or paragraph: no HTML, no table breaks. Backticks stay
    backticks: `freigabe fix …` in a fix text is a code span, as written."""
    value = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def fenced(lang: str, text: str) -> list[str]:
    """A code block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return [f"{bar}{lang}", text, bar]


def status_text(r: Report, f: Finding) -> str:
    """A finding's status as every report shows it: waived and attested say by whom."""
    text = f"{ICON[f.status]} {f.status}"
    if f.waived:
        text += " — " + r.t["waived"].format(**f.waived)
    elif f.attested:
        text += " — " + r.t["attested"].format(**f.attested)
    return text


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return out


def _findings(r: Report, rows: list[Finding]) -> list[str]:
    if not rows:
        return [f"_{r.t['no_findings']}_", ""]
    return [
        *_table(
            [r.t["topic"], r.t["soll"], r.t["ist"], r.t["impact"], r.t["state"], r.t["where"]],
            [
                [r.tr(f.title), r.tr(f.soll), r.tr(f.ist), f.impact, status_text(r, f), f.location or f.key]
                for f in rows
            ],
        ),
        "",
    ]


def render(r: Report) -> str:
    t = r.t
    plan = r.plan
    out = [
        f"# {md(t['title'].format(env=r.environment))}",
        "",
        f"**Status:** **{t['status']}**  ",
        f"**Created:** {md(r.created_at)}  ",
    ]
    if plan:
        out += [
            f"**Plan:** `{plan.id}`  ",
            f"**Release:** `{plan.release}` "
            f"(bundle `{plan.bundle.name if plan.bundle else '—'}`, SHA-256 "
            f"`{plan.inputs.bundle_sha256 or '—'}`)  ",
            "",
        ]
        out += [f"> **{md(t['stop'].format(plan=plan.id[:12]))}**", ""]
    out += [f"## {t['s1']}", "", f"### {t['build']}", ""]
    out += _table(
        ["#", t["what"], t["source"], t["on_failure"]],
        [[i + 1, s["title"], s["source"], t[f"{s['on_failure']}_policy"]] for i, s in enumerate(r.build_steps)],
    )
    if plan:
        out += ["", f"### {t['deploy']} ({plan.environment})", ""]
        out += _table(
            [t["step"], t["what"], t["source"], t["duration"], t["on_failure"]],
            [
                [f"{i + 1}. {s.id}", r.tr(s.title), s.source, f"~{s.expected_seconds:g} s", r.policy_text(s)]
                for i, s in enumerate(plan.shown_steps)
            ],
        )
        for m in r.migrations():
            out += ["", f"#### {md(t['migrations'])}: {md(m['name'])}", ""]
            out += _table(
                ["#", t["statement"], t["kind"], t["why"]],
                [[i, f"`{st['sql']}`", st["kind"], st["why"]] for i, st in enumerate(m["statements"], 1)],
            )
        if plan.fleet is not None:  # every host, what it serves and what it will do; the batches and policy
            out += [
                "",
                f"{plan.fleet.strategy}: {' → '.join(', '.join(b) for b in plan.fleet.batches)}; "
                f"unreachable host: {plan.fleet.on_unreachable}",
                "",
            ]
            out += _table(
                ["host", "roles", "live", "will"],
                [[h.name, ", ".join(h.roles), h.current_release or "—", h.does] for h in plan.hosts],
            )
    for key, area in (("s2", "repo"), ("s3", "github"), ("s4", "server")):
        out += ["", f"## {t[key]}", ""]
        if area in r.skipped:
            out += [f"_{md(t['skipped'].format(why=r.skipped[area]))}_", ""]
        out += _findings(r, r.area(area))
    out += [f"## {t['s5']}", ""]
    out += _table(
        ["#", t["topic"], t["soll"], t["ist"], t["impact"], t["state"], t["fix"]],
        [
            [
                i + 1,
                r.tr(f.title),
                r.tr(f.soll),
                r.tr(f.ist),
                f.impact,
                status_text(r, f),
                r.tr(f.fix) or "—",
            ]
            for i, f in enumerate(r.delta())
        ],
    )
    out += ["", f"## {t['s6']}", ""]
    if r.decision:
        d = r.decision
        text = {"GO": t["go_text"], "CONDITIONAL GO": t["cond_text"], "NO-GO": t["nogo_text"]}[d.verdict]
        out += [
            f"### {VERDICT_ICON[d.verdict]} **{d.verdict}** — {md(t['decision_for'].format(env=d.environment))}",
            "",
            md(text),
            "",
        ]
        out += [f"{i + 1}. {md(reason)}" for i, reason in enumerate(r.reasons())]
    out += ["", f"## {t['s7']}", ""]
    if plan:
        out += [
            *fenced("mermaid", mermaid(plan.shown_steps, t["abort_policy"], t["rollback_policy"], plan.release)),
            "",
        ]
    out += [f"## {t['s8']}", "", f"### {t['preconditions']}", ""]
    out += [f"- [{'x' if ok else ' '}] {md(text)}" for ok, text in r.preconditions()]
    out += ["", f"### {t['phases']}", ""]
    out += [
        f"{i}. {md(t[k])}"
        for i, k in enumerate(["phase_prep", "phase_deploy", "phase_gates", "phase_verify", "phase_evidence"], start=1)
    ]
    out += ["", f"### {t['acceptance']}", ""] + [f"- [ ] {md(a)}" for a in r.acceptance()]
    out += ["", f"## {t['s9']}", "", f"### {t['risks']}", ""]
    risky = [f for f in r.delta() if f.status in ("fail", "pending")]
    out += (
        _table(
            [t["risk"], t["impact"], t["mitigation"], t["state"]],
            [[f"{r.tr(f.title)}: {r.tr(f.ist)}", f.impact, r.tr(f.fix) or "—", status_text(r, f)] for f in risky],
        )
        if risky
        else [f"_{t['no_findings']}_"]
    )
    before, during = r.abort_criteria()
    out += ["", f"### {t['abort']}", "", f"**{t['before']}:**", ""] + [f"- {md(b)}" for b in before]
    out += ["", f"**{t['during']}:**", ""] + [f"- {md(d)}" for d in during]
    out += ["", f"**{md(t['forbidden'])}**", "", f"## {t['s10']}", ""]
    for title, command in r.next_steps():
        out += [f"**{md(title)}**", "", *fenced("sh", command), ""]
    out += [
        f"### {t['phrases']}",
        "",
        "- `STAGING-TEST FREIGEGEBEN` · `PROD-DEPLOY FREIGEGEBEN` · "
        "`PROD-FIX FREIGEGEBEN` · `APPEND MISSING INFO` · `ABBRECHEN`",
        "",
    ]
    return "\n".join(out)
