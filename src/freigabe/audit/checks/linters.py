"""External linters folded in: actionlint and zizmor findings as `warn` rows.

Their advice is shown with its severity, never deciding GO/NO-GO on its own (freigabe's own
checks and the policy do that). Pure: the adapter ran the tools; this reads their output.
"""

from __future__ import annotations

from pathlib import Path

from freigabe.audit.facts import LinterRun
from freigabe.core.findings import Finding, finding


def linter_findings(run: LinterRun) -> list[Finding]:
    if not run.installed:
        return [
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll=f"{run.tool} checks the workflows",
                ist=f"{run.tool} is not installed, so its checks did not run",
                impact="P2",
                ok=False,
                status="warn",
                fix="pip install 'freigabe[audit]' (actionlint, zizmor)",
            )
        ]
    if run.error:
        return [
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll="it runs",
                ist=run.error,
                impact="P2",
                ok=False,
                status="warn",
                fix=f"run {run.tool} by hand to see why",
            )
        ]
    rows = []
    for item in run.findings:
        if run.tool == "actionlint":
            kind = item.get("kind", "lint")
            where = f"{Path(item.get('filepath', '')).as_posix()}:{item.get('line', 0)}"
            rows.append(
                finding(
                    f"actionlint.{kind}",
                    "repo",
                    f"actionlint: {kind}",
                    subject=where,
                    soll="no actionlint error",
                    ist=str(item.get("message", ""))[:300],
                    impact="P2",
                    ok=False,
                    status="warn",
                    location=where,
                    fix="see actionlint's message",
                    evidence={
                        "excerpt": str(item.get("snippet", "")).split("\n")[0].strip()[:200],
                        "line": int(item.get("line", 0) or 0),
                    },
                )
            )
        else:
            ident = item.get("ident", "finding")
            severity = str(item.get("determinations", {}).get("severity", "")).lower()
            loc = (item.get("locations") or [{}])[0]
            local = ((loc.get("symbolic") or {}).get("key") or {}).get("Local") or {}
            path = Path(local.get("verbatim_path") or local.get("given_path") or "").name
            row = ((loc.get("concrete") or {}).get("location") or {}).get("start_point", {}).get("row", 0)
            where = f".github/workflows/{path}:{int(row) + 1}" if path else ident
            note = (loc.get("symbolic") or {}).get("annotation", "")
            # External advice is folded in as `warn`: shown with its severity, never deciding
            # GO/NO-GO on its own (freigabe's own checks and the policy do that).
            rows.append(
                finding(
                    f"zizmor.{ident}",
                    "repo",
                    f"zizmor: {item.get('desc', ident)}",
                    subject=where,
                    soll="no zizmor finding",
                    ist=f"{item.get('desc', '')}: {note}"[:300],
                    impact="P1" if severity == "high" else "P2",
                    ok=False,
                    status="warn",
                    location=where,
                    fix=str(item.get("url", "see zizmor's documentation")),
                    evidence={"excerpt": str(note)[:200], "line": int(row) + 1},
                )
            )
    if not rows:
        rows.append(
            finding(
                f"tool.{run.tool}",
                "repo",
                f"{run.tool} ran",
                soll="no findings",
                ist="no findings",
                impact="P2",
                ok=True,
            )
        )
    return rows
