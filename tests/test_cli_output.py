"""What the command line shows: the verdict before any phrase, words that read right, output a
pipeline can use (no wrapping, exit codes, JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from freigabe.core.output import headline
from freigabe.errors import ExitCode

from .conftest import Project
from .fixtures import workflows as W

PHRASE = "STAGING-TEST FREIGEGEBEN"


def test_version(project: Project) -> None:
    from freigabe import __version__

    result = project.runner.invoke(__import__("freigabe.cli", fromlist=["app"]).app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"freigabe {__version__}"


def test_piped_output_never_splits_an_id_or_a_phrase(deployed: Project) -> None:
    W.write(deployed.root, W.BUGGY)
    bundle = deployed.build("v2")
    proc = subprocess.run(
        [sys.executable, "-m", "freigabe", "plan", "staging", "--bundle", str(bundle.path)],
        cwd=deployed.root,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    assert any("workflow.jq-null-guard:deploy-staging.yml" in line for line in lines), proc.stdout
    assert any(PHRASE in line for line in lines) or "NO-GO" in proc.stdout
    assert max(len(line) for line in lines) > 80  # nothing was folded at 80 columns


def test_plural_forms(deployed: Project) -> None:
    dry = deployed.cli("cleanup", "staging", "--dry-run")
    assert "would remove 0 releases" in dry.output
    verify = deployed.cli("ledger", "verify", "staging")
    assert " entries, chain intact" in verify.output
    one = deployed.build("v2")
    plan = deployed.cli("plan", "staging", "--bundle", str(one.path))
    assert "passes 1 health check" in plan.output and "1 health checks" not in plan.output
    assert "keep 3 releases" in plan.output


def test_the_verdict_comes_before_any_phrase(deployed: Project) -> None:
    """Interactive deploy: CONDITIONAL GO and its conditions are shown, and a report is written."""
    live = deployed.deploy_path() / "releases" / (deployed.current() or "")
    (live / "public" / "index.html").write_text("hotfix edited on the server")  # P1 drift: CONDITIONAL GO
    bundle = deployed.build("v2")
    result = deployed.cli("deploy", "staging", "--bundle", str(bundle.path))
    assert result.exit_code == ExitCode.APPROVAL  # not a terminal: no phrase typed
    text = result.output
    assert "decision for staging: CONDITIONAL GO" in text and "Live release unchanged since deploy" in text
    assert text.index("decision for staging:") < text.index("--approve")
    assert "report:" in text and list((deployed.root / "reports").glob("*.html"))
    # a NO-GO plan shows its verdict too, and is never offered for approval
    (deployed.deploy_path() / "shared" / ".env").write_text("HEALTHCHECK_TOKEN=not-the-same\n")
    refused = deployed.cli("deploy", "staging", "--bundle", str(bundle.path))
    assert refused.exit_code == ExitCode.APPROVAL
    assert "decision for staging: NO-GO" in refused.output and "--approve" not in refused.output


def test_a_no_go_promotion_never_hints_at_an_approval(deployed: Project) -> None:
    import time

    v2 = deployed.build("v2")
    assert deployed.deploy("staging", v2.path).exit_code == 0
    time.sleep(1.1)
    W.write(deployed.root, W.BUGGY)  # a P0 in the workflows: NO-GO everywhere
    result = deployed.cli("promote", "production")
    assert result.exit_code == ExitCode.APPROVAL, result.output
    assert "NO-GO" in result.output and "--approve" not in result.output and "pre-flight" not in result.output


def test_fix_with_a_phrase_but_no_plan_is_refused(deployed: Project) -> None:
    result = deployed.cli("fix", "server.lock", "--env", "staging", "--approve", "PROD-FIX FREIGEGEBEN")
    assert result.exit_code == ExitCode.CONFIG and "--approve needs --plan ID" in result.output
    restore = deployed.cli("restore", "staging", "--backup", "x", "--approve", "PROD-FIX FREIGEGEBEN")
    assert restore.exit_code == ExitCode.CONFIG and "--approve needs --plan ID" in restore.output


def test_audit_exits_non_zero_on_no_go(deployed: Project) -> None:
    W.write(deployed.root, W.BUGGY)
    result = deployed.cli("audit", "--env", "staging")
    assert result.exit_code == ExitCode.APPROVAL and "NO-GO" in result.output
    as_json = deployed.cli("audit", "--env", "staging", "--json")
    assert as_json.exit_code == ExitCode.APPROVAL and json.loads(as_json.raw)["decision"]["verdict"] == "NO-GO"
    W.write(deployed.root, W.FIXED)
    assert deployed.cli("audit", "--env", "staging").exit_code == 0


def test_ledger_verify_json_and_a_target_never_deployed(deployed: Project) -> None:
    result = deployed.cli("ledger", "verify", "--json")
    assert result.exit_code == 0
    data = {e["environment"]: e for e in json.loads(result.raw)["environments"]}
    assert data["staging"]["deployed"] and data["staging"]["ok"] and data["staging"]["target_entries"] > 5
    assert data["production"] == {**data["production"], "deployed": False, "target_entries": 0}
    text = deployed.cli("ledger", "verify")
    assert "production: not deployed yet" in text.output and "production: 0 entries" not in text.output
    status = deployed.cli("status", "production")
    assert "has not deployed" in status.output


def test_status_names_rollbacks_refusals_and_the_bad_marks_cause(deployed: Project) -> None:
    bad = deployed.build("v2", respond={"/health": {"status": 500}})
    assert deployed.deploy("staging", bad.path).exit_code == ExitCode.ROLLED_BACK
    good = deployed.build("v3")
    plan = deployed.plan_id("staging", good.path)
    assert deployed.cli("deploy", "staging", "--plan", plan, "--approve", "ABBRECHEN").exit_code == ExitCode.APPROVAL
    assert deployed.cli("deploy", "staging", "--plan", plan, "--approve", "nope").exit_code == ExitCode.APPROVAL
    assert deployed.deploy("staging", good.path).exit_code == 0
    made = deployed.cli("rollback", "staging", "--approve", PHRASE)
    rb = made.output.split("--plan ")[1].split()[0]
    assert deployed.cli("rollback", "staging", "--plan", rb, "--approve", PHRASE).exit_code == 0
    status = deployed.cli("status", "staging")
    out = status.output
    assert "rolled back (manual)" in out and "rolled back (automatic, verified)" in out
    assert "ABBRECHEN by tester" in out and "refused by tester" in out
    assert "health.health: health failed" in out  # the bad mark's cause, in the releases table


def test_headline_picks_the_line_that_says_what_failed() -> None:
    php = (
        "PHP Fatal error:  Uncaught PDOException: could not find driver in /srv/r/artisan:14\n"
        "Stack trace:\n#0 /srv/r/artisan(14): PDO->__construct()\n#1 /srv/r/artisan(27): pdo()\n"
        "#2 {main}\n  thrown in /srv/r/artisan on line 14"
    )
    assert headline(php).startswith("PHP Fatal error:  Uncaught PDOException: could not find driver")
    python = (
        "Traceback (most recent call last):\n"
        '  File "manage.py", line 3, in <module>\n'
        "    main()\n"
        "ValueError: bad config value for DB_HOST"
    )
    assert headline(python) == "ValueError: bad config value for DB_HOST"
    laravel = "\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[HY000] [2002] Connection refused (SQL: x)\n"
    assert headline(laravel).startswith("SQLSTATE[HY000] [2002] Connection refused")
    assert headline("line one\nline two\n") == "line two"
    assert headline("") == ""


def test_the_spinner_counts_the_seconds_of_the_running_step() -> None:
    import time

    from rich.console import Console

    from freigabe.terminal import _Elapsed

    text = _Elapsed("[7/20] Readiness: poll /REVISION")
    text.started -= 12.4
    console = Console(record=True, width=120)
    console.print(text)
    assert "[7/20] Readiness: poll /REVISION 12 s" in console.export_text()
    assert time.monotonic() - text.started >= 12


def test_the_stale_plan_message_gives_a_command_that_works_as_printed(deployed: Project) -> None:
    import shlex

    bundle = deployed.build("v2")
    plan = deployed.plan_id("staging", bundle.path)
    toml = deployed.root / "freigabe.toml"
    toml.write_text(toml.read_text().replace("keep_releases = 3", "keep_releases = 4", 1))
    stale = deployed.cli("deploy", "staging", "--plan", plan, "--approve", PHRASE)
    assert stale.exit_code == ExitCode.APPROVAL
    command = stale.output.split("make a new plan with `")[1].split("`")[0]
    argv = shlex.split(command)
    assert argv[:3] == ["freigabe", "plan", "staging"]
    again = deployed.cli(*argv[1:])
    assert again.exit_code == 0 and "plan id" in again.output
