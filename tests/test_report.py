"""The report: three formats, escaping, German, and the HTML page in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from freigabe.report.catalog_de import german

from .conftest import Project
from .fixtures import workflows as W
from .support.needs import need

HOSTILE = '<script>alert("pwned")</script> | `x`'


@pytest.fixture
def reported(deployed: Project) -> tuple[Project, dict[str, Path]]:
    files = dict(W.BUGGY)
    files["evil-a.yml"] = f"name: '{HOSTILE}'\non: push\njobs: {{}}\n"
    files["evil-b.yml"] = f"name: '{HOSTILE}'\non: push\njobs: {{}}\n"
    W.write(deployed.root, files)
    bundle = deployed.build("v2")
    out = deployed.root / "report-under-test"
    result = deployed.cli("plan", "staging", "--bundle", str(bundle.path), "--out", str(out))
    assert result.exit_code == 0, result.output
    paths = {p.suffix[1:]: p for p in out.iterdir()}
    return deployed, paths


def test_three_files_with_the_reference_name(reported: tuple[Project, dict[str, Path]]) -> None:
    _, paths = reported
    assert set(paths) == {"md", "html", "json"}
    for path in paths.values():
        assert re.fullmatch(r"DEPLOY_STAGING_\d{4}-\d{2}-\d{2}_\d{4}\.(md|html|json)", path.name)


def test_markdown_sections_in_the_reference_order(reported: tuple[Project, dict[str, Path]]) -> None:
    _, paths = reported
    md = paths["md"].read_text()
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert [h.split(" ", 2)[2] if h[3].isdigit() else h for h in heads] == [
        "SOLL summary (target process)",
        "Repository audit (IST)",
        "GitHub audit (IST)",
        "Server audit (IST)",
        "SOLL↔IST delta and risk",
        "Decision",
        "Flowchart",
        "Validation plan",
        "Risks and abort criteria",
        "Next steps and approval phrases",
    ]
    assert "```mermaid\nflowchart TD" in md
    assert "STAGING-TEST FREIGEGEBEN" in md and "PROD-FIX FREIGEGEBEN" in md and "ABBRECHEN" in md
    assert "- [ ] " in md and "- [x] " in md  # preconditions derived from findings
    assert "SOLL 12" in md and "~0.1 s" in md  # each step with its source and expected duration


def test_everything_printed_is_escaped(reported: tuple[Project, dict[str, Path]]) -> None:
    _, paths = reported
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "<script>alert" not in md and "&lt;script&gt;alert" in md and "\\|" in md
    assert '<script>alert("pwned")' not in html and "&lt;script&gt;alert(" in html
    data = json.loads(paths["json"].read_text())
    assert data["schema_version"] == 1 and data["kind"] == "freigabe.report"
    assert any(HOSTILE in f["ist"] for f in data["findings"])  # JSON keeps the data as it is


# Characters drawn from an emoji font (Emoji_Presentation=Yes in the BMP, all of U+1F000…, and VS16).
_EMOJI = re.compile(
    "[\u231a\u231b\u23e9-\u23ec\u23f0\u23f3\u25fd\u25fe\u2614\u2615\u2648-\u2653\u267f\u2693\u26a1"
    "\u26aa\u26ab\u26bd\u26be\u26c4\u26c5\u26ce\u26d4\u26ea\u26f2\u26f3\u26f5\u26fa\u26fd\u2705\u270a"
    "\u270b\u2728\u274c\u274e\u2753-\u2755\u2757\u2795-\u2797\u27b0\u27bf\u2b1b\u2b1c\u2b50\u2b55"
    "\ufe0f\U0001f000-\U0001faff]"
)


def test_no_glyph_needs_an_emoji_font(reported: tuple[Project, dict[str, Path]]) -> None:
    _, paths = reported
    for path in (paths["md"], paths["html"]):
        found = _EMOJI.findall(path.read_text())
        assert not found, (path.name, sorted(set(found)))


def test_german(reported: tuple[Project, dict[str, Path]]) -> None:
    project, _ = reported
    bundle = next((project.root / "dist").glob("*.tar.gz"))
    out = project.root / "de"
    assert project.cli("plan", "staging", "--bundle", str(bundle), "--lang", "de", "--out", str(out)).exit_code == 0
    md = next(out.glob("*.md")).read_text()
    for words in (
        "SOLL-Zusammenfassung",
        "IST↔SOLL-Delta",
        "GO/NO-GO-Entscheidung",
        "Abbruchkriterien",
        "Freigabe-Phrasen",
        "PLAN ZUERST — NICHTS AUSGEFÜHRT",
        "AUTOMATISCHER ABBRUCH",
        "VERBOTEN",
    ):
        assert words in md, words
    assert "ˋ" not in md and "`// empty`" in md  # real backticks: code spans in fix texts
    # the findings' and steps' own texts are German too, not only the headings
    data = json.loads(next(out.glob("*.json")).read_text())
    untranslated = [
        text
        for f in data["findings"]
        if not f["id"].startswith(("zizmor.", "actionlint.", "tool."))
        for text in (f["title"], f["soll"], f["fix"])
        if text and german(text) == text and re.search(r"[a-z]{3,} [a-z]{3,}", text)  # words, not only facts
    ]
    untranslated += [s["title"] for s in data["plan"]["steps"] if german(s["title"]) == s["title"]]
    assert not untranslated, untranslated
    assert "Layer-2-Gates:" in md and "Atomarer Switch: current →" in md and "jq-null-Guard (deploy-staging.yml)" in md
    bad = project.cli("plan", "staging", "--bundle", str(bundle), "--lang", "fr")
    assert bad.exit_code == 2 and "use en or de" in bad.output


def _chromium() -> str:
    need("chromium")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed (`make tools` installs it)")
    return exe


def test_html_in_a_headless_browser(reported: tuple[Project, dict[str, Path]], tmp_path: Path) -> None:
    _, paths = reported
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
        "--virtual-time-budget=3000",
    ]
    url = paths["html"].resolve().as_uri()
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # no errors, and the hostile <script> never ran
    height = re.search(r'data-flowchart-height="(\d+)"', dom.stdout)
    assert height and int(height.group(1)) > 300, "the flowchart is not visible"
    assert re.search(r'id="verdict">NO-GO · Decision for staging<', dom.stdout)
    top = re.search(r'data-verdict-top="(-?\d+)"', dom.stdout)
    assert top and 0 <= int(top.group(1)) < 400, "the verdict must open the page, above the fold"
    assert 'id="markdown"' in dom.stdout
    assert re.search(r'<button type="button" id="copy">Copy Markdown</button>', dom.stdout)
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
    assert "http://" not in re.sub(r'(href|src)="[^"]*"', "", paths["html"].read_text().split("<body>")[0])


def test_two_plans_in_one_minute_keep_both_reports(reported: tuple[Project, dict[str, Path]]) -> None:
    project, paths = reported
    bundle = next((project.root / "dist").glob("*.tar.gz"))
    out = paths["md"].parent
    assert project.cli("plan", "staging", "--bundle", str(bundle), "--out", str(out)).exit_code == 0
    names = sorted(p.name for p in out.glob("*.md"))
    assert len(names) in (2, 3)  # a minute may turn in between; nothing is overwritten
