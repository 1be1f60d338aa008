"""Each repository check on parsed facts: a few lines of YAML or shell through the adapter, then the
pure check. No project, no server, no linter."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from freigabe.adapters.shell_parse import parse_script
from freigabe.adapters.workflows import load_workflows, parse_workflow
from freigabe.audit.checks import run_checks
from freigabe.audit.checks.artifacts import check_deploy_before_build
from freigabe.audit.checks.common import deploy_jobs, switch_target, switches
from freigabe.audit.checks.health import check_health_cannot_fail
from freigabe.audit.checks.jq import can_yield_null, check_jq_null_guard
from freigabe.audit.checks.ssh import check_ssh_host_keys
from freigabe.audit.checks.structure import (
    check_deploy_job_guards,
    check_parse_errors,
    check_workflow_run_success,
)
from freigabe.audit.checks.switch import check_hardening
from freigabe.audit.facts import Workflow
from freigabe.core.findings import Finding


def wf(text: str, name: str = "deploy.yml") -> Workflow:
    return parse_workflow(f".github/workflows/{name}", textwrap.dedent(text).lstrip())


def job(script: str, *, name: str = "deploy.yml", extra_steps: str = "", head: str = "on: push\n") -> Workflow:
    """One job whose first step runs `script`."""
    body = textwrap.indent(textwrap.dedent(script).strip(), " " * 10)
    return wf(
        f"{head}jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - name: Deploy\n"
        f"        id: deploy\n        run: |\n{body}\n{textwrap.indent(textwrap.dedent(extra_steps), ' ' * 6)}",
        name,
    )


def one(rows: list[Finding], subject_part: str = "") -> Finding:
    found = [r for r in rows if subject_part in r.subject]
    assert len(found) == 1, rows
    return found[0]


# ------------------------------------------------------------------------ the shell model


def test_expressions_keep_line_numbers_and_comments_are_no_code() -> None:
    script = parse_script("# ln -sfn new current\necho ${{ github.sha }}\nX=${{\n  env.A }}\nrm -rf /tmp/x\n", 10)
    assert [c.name for c in script.commands] == ["echo", "rm"]
    assert script.commands[0].words == ("echo", "${{ github.sha }}")
    assert script.commands[1].line == 14  # the multi-line expression kept the count


def test_ssh_string_heredoc_and_bash_c_are_scripts_with_their_own_set_e() -> None:
    script = parse_script(
        "ssh u@h 'cd /srv && ln -sfn r current'\n"
        "ssh -p 22 u@h <<'EOF'\n  set -e\n  php artisan migrate\nEOF\n"
        "sudo -u www bash -ec 'php artisan optimize:clear'\n",
        1,
    )
    ssh, heredoc, bash_c = script.children
    assert (ssh.kind, ssh.host, ssh.line, ssh.errexit_at) == ("ssh", "u@h", 1, None)
    assert [c.name for c in ssh.commands] == ["cd", "ln"]
    assert heredoc.kind == "ssh-heredoc" and heredoc.line == 3 and heredoc.errexit_for(1)
    assert bash_c.kind == "bash-c" and bash_c.errexit_for(0)


def test_action_scripts_are_parsed_with_script_stop() -> None:
    w = wf(
        """
        on: push
        jobs:
          d:
            runs-on: ubuntu-latest
            steps:
              - uses: appleboy/ssh-action@v1
                with:
                  host: h
                  script_stop: true
                  script: |
                    cd /srv
                    php artisan migrate --force
        """
    )
    (script,) = w.jobs[0].steps[0].action_scripts
    assert script.kind == "ssh-action" and script.errexit_for(0) and script.line == 11


def test_default_shell_is_bash_e_and_shell_bash_adds_pipefail() -> None:
    w = wf(
        """
        on: push
        defaults:
          run:
            shell: bash
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: echo a
              - run: echo b
                shell: sh
              - run: Write-Host c
                shell: pwsh
        """
    )
    bash, sh, pwsh = w.jobs[0].steps
    assert bash.script is not None and bash.script.errexit and bash.script.pipefail
    assert sh.script is not None and sh.script.errexit and not sh.script.pipefail
    assert pwsh.script is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: x\non: [push\n", "is not valid YAML"),
        ("# only a comment\n\n# another\n", "empty or all comments"),
        ("- a\n- b\n", "not a mapping"),
        ("name: x\non: push\n", "no `jobs:` mapping"),
    ],
)
def test_bad_files_get_one_sentence(text: str, says: str) -> None:
    (row,) = check_parse_errors([parse_workflow(".github/workflows/x.yml", text)])
    assert says in row.ist and row.ist.startswith(".github/workflows/x.yml") and "\n" not in row.ist


def test_unreadable_script_is_a_warning_naming_the_line() -> None:
    rows = check_parse_errors([job('echo ok\nif not exist "x" (\n  echo y\n)\n')])
    (row,) = rows
    assert row.id == "workflow.shell-parse" and row.status == "warn" and "cannot read" in row.ist


def test_unreadable_file_is_reported_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bin.yml").write_bytes(b"\xff\xfe\x00bad")
    (w,) = load_workflows(tmp_path)
    assert w.error and "cannot be read" in w.error


# ------------------------------------------------------------------------ jq


@pytest.mark.parametrize(
    ("jq", "null"),
    [
        (".[0].id", True),
        (".[0].id // empty", False),
        ('.[0].id // "x"', False),
        ("[.[] | select(.a)][0].id", True),
        ("[.[] | select(.x // false)][0].id", True),  # the `//` is inside, not at the end
        (".[-1].id", True),
        ("last", True),
        ("limit(1; .[]) | .id", True),
        ("length", False),
        (".a | select(. != null)", False),
    ],
)
def test_jq_filters(jq: str, null: bool) -> None:
    assert can_yield_null(jq) is null


def _jq(script: str, extra: str = "") -> Finding:
    (row,) = check_jq_null_guard([job(script, extra_steps=extra)])
    return row


def test_null_into_a_download_through_github_env_is_p0() -> None:
    row = _jq(
        """
        ID=$(gh run list --json databaseId | jq -r '.[0].databaseId')
        [ -z "$ID" ] && exit 1
        echo "ID=$ID" >> $GITHUB_ENV
        """,
        """
              - uses: actions/download-artifact@v4
                with:
                  name: bundle
                  run-id: ${{ env.ID }}
        """,
    )
    assert (row.status, row.impact) == ("fail", "P0")
    assert "only `[ -z ]`" in row.ist and "a download" in row.ist
    assert row.location == ".github/workflows/deploy.yml:9" and row.evidence["line"] == 9


@pytest.mark.parametrize(
    "script",
    [
        "T=$(jq -r '.[0].path' r.json)\nrsync -a ./ deploy@host:$T",
        'D=$(jq -r ".dir" cfg.json)\nrm -rf "/srv/$D"',
        "V=$(jq -r 'first(.[]).v' r.json)\necho x > /srv/$V/version",
    ],
)
def test_null_into_a_target_or_a_removed_path_is_p0(script: str) -> None:
    row = _jq(script)
    assert (row.status, row.impact) == ("fail", "P0"), row.ist


def test_null_that_only_makes_the_next_command_fail_is_a_note() -> None:
    row = _jq("ID=$(jq -r '.[0].id' runs.json)\ngh run view $ID")
    assert (row.status, row.impact) == ("warn", "P2")


@pytest.mark.parametrize(
    "script",
    [
        "ID=$(jq -r '.[0].id // empty' r.json)\ngh run download $ID",
        "ID=$(jq -er '.[0].id' r.json)\ngh run download $ID",
        'ID=$(jq -r ".[0].id" r.json)\n[ "$ID" = "null" ] && exit 1\ngh run download $ID',
        "ID=$(jq -r '.[0].id' r.json)\n[[ $ID =~ ^[0-9]+$ ]] || exit 1\ngh run download $ID",
        "N=$(jq length r.json)\n[ \"$N\" -gt 0 ] || exit 1\nID=$(jq -r '.[0].id' r.json)\ngh run download $ID",
        "ID=$(gh run list --json databaseId --jq '.[0].databaseId')\ngh run download $ID",
    ],
)
def test_guarded_lookups_pass(script: str) -> None:
    rows = check_jq_null_guard([job(script)])
    assert all(r.status == "ok" for r in rows), [r.ist for r in rows]


def test_jq_e_whose_failure_is_lost_is_no_guard() -> None:
    row = _jq("export ID=$(jq -er '.[0].id' r.json)\ngh run download $ID")
    assert row.status == "fail"


def test_jq_inside_a_remote_script_is_followed_there() -> None:
    row = _jq("ssh deploy@host 'V=$(jq -r .release state.json); rm -rf /srv/releases/$V'")
    assert (row.status, row.impact) == ("fail", "P0")


# ------------------------------------------------------------------------ health checks


def _health(script: str, extra: str = "") -> list[Finding]:
    return check_health_cannot_fail([job("rsync -a ./ deploy@host:/srv/app\n" + script, extra_steps=extra)])


def test_copying_healthcheck_php_is_no_request() -> None:
    assert _health("cp healthcheck.php public/healthcheck.php") == []


def test_a_refusal_test_is_not_401_accepted() -> None:
    (row,) = _health(
        "code=$(curl -s -o /dev/null -w '%{http_code}' https://example.org/health)\n[ \"$code\" = 401 ] || exit 1"
    )
    assert row.status == "ok", row.ist


def test_401_next_to_200_is_accepted() -> None:
    (row,) = _health(
        "code=$(curl -s -o /dev/null -w '%{http_code}' https://example.org/health)\n"
        'if [ "$code" = 200 ] || [ "$code" = 401 ]; then echo ok; else exit 1; fi'
    )
    assert "HTTP 401 is accepted as healthy" in {p["what"] for p in row.evidence["problems"]}


def test_or_true_inside_a_tested_status_capture_is_fine() -> None:
    (row,) = _health(
        "code=$(curl -s -o /dev/null -w '%{http_code}' https://example.org/health || true)\n"
        '[ "$code" = 200 ] || exit 1'
    )
    assert row.status == "ok", row.ist


@pytest.mark.parametrize(
    ("script", "what"),
    [
        ("curl -sf https://example.org/health || true", "`|| true` makes the check pass whatever happens"),
        ("curl -s https://example.org/health", "curl without --fail exits 0 on HTTP 500"),
        ("if curl -sf https://example.org/health; then echo up; fi", "a failed request only skips the `if` branch"),
        (
            "ssh deploy@host 'curl -sf http://localhost/health\necho done'",
            "the remote script has no `set -e` and the request is not its last command",
        ),
    ],
)
def test_checks_that_cannot_fail(script: str, what: str) -> None:
    (row,) = _health(script)
    assert row.status == "fail" and what in {p["what"] for p in row.evidence["problems"]}, row.evidence


def test_remote_request_that_ends_the_script_decides() -> None:
    (row,) = _health("ssh deploy@host 'cd /srv\ncurl -sf http://localhost/health'")
    assert row.status == "ok", row.ist
    assert row.evidence["excerpt"] and row.location


def test_continue_on_error_makes_a_check_unable_to_fail() -> None:
    rows = _health(
        "",
        """
              - name: Health
                continue-on-error: true
                run: curl -sf https://example.org/health
        """,
    )
    assert "continue-on-error" in rows[0].ist


# ------------------------------------------------------------------------ the switch and what follows


def test_only_the_served_link_is_the_switch() -> None:
    w = job('ln -s "$APP/storage/app/public" "$WEB/storage"\nln -s "$R" current.tmp && mv -Tf current.tmp current')
    (switch,) = switches(w)
    assert switch.cmd.name == "mv" and switch_target(switch.cmd) == "current"


def test_a_switch_inside_a_heredoc_counts_and_after_means_after_it() -> None:
    w = job(
        """
        ssh deploy@host <<'EOF'
        set -e
        php artisan optimize:clear
        ln -sfn /srv/releases/$R /srv/current
        sudo -n service php8.3-fpm reload
        EOF
        """
    )
    rows = {r.subject.split("#")[1]: r for r in check_hardening([w])}
    assert rows["post-switch-cache-clear"].status == "fail"  # the clear ran before the switch
    assert rows["php-fpm-reload"].status == "ok" and "not silenced" in rows["php-fpm-reload"].ist
    assert rows["health-after-switch"].status == "fail" and rows["health-after-switch"].impact == "P1"


def test_a_silenced_reload_fails_and_retry_grace_are_advice() -> None:
    w = job(
        """
        ln -sfn "$R" /srv/current
        php artisan optimize:clear
        sudo systemctl reload 'php*-fpm' 2>/dev/null || true
        curl --fail https://example.org/health
        """
    )
    rows = {r.subject.split("#")[1]: r for r in check_hardening([w])}
    assert rows["php-fpm-reload"].status == "fail" and "silenced" in rows["php-fpm-reload"].ist
    assert (rows["health-retry"].status, rows["health-retry"].impact) == ("fail", "P2")
    assert (rows["grace-readiness"].status, rows["grace-readiness"].impact) == ("fail", "P2")
    assert rows["rollback-after-switch"].impact == "P2"  # none at all: advice


def test_retry_and_grace_are_loops_and_waits_around_the_request() -> None:
    w = job(
        """
        sleep 30
        ln -sfn "$R" /srv/current
        for i in 1 2 3 4 5 6; do
          curl --fail https://example.org/health && exit 0
          sleep 5
        done
        exit 1
        """
    )
    rows = {r.subject.split("#")[1]: r for r in check_hardening([w])}
    assert rows["health-retry"].status == "ok" and "for loop" in rows["health-retry"].ist
    assert rows["grace-readiness"].status == "ok"
    assert "post-switch-cache-clear" not in rows  # no PHP here


@pytest.mark.parametrize(
    ("condition", "script", "ok", "says"),
    [
        ("failure()", 'P=$(ls -1dt /srv/releases/* | sed -n 2p)\nln -sfn "$P" /srv/current', False, "by mtime"),
        ("failure()", 'ln -sfn "$PREVIOUS" /srv/current', False, "runs on any failure"),
        ("failure() && steps.deploy.outcome == 'success'", 'ln -sfn "$PREVIOUS" /srv/current', True, "recorded"),
    ],
)
def test_rollback_rows_say_what_the_rollback_does(condition: str, script: str, ok: bool, says: str) -> None:
    body = textwrap.indent(script, " " * 10)
    w = job(
        'echo "PREVIOUS=$(readlink /srv/current)" >> $GITHUB_ENV\nln -sfn "$R" /srv/current',
        extra_steps=f"      - name: Rollback\n        if: {condition}\n        run: |\n{body}\n",
    )
    row = next(r for r in check_hardening([w]) if r.subject.endswith("#rollback-after-switch"))
    assert (row.status == "ok") is ok and says in row.ist, row.ist


# ------------------------------------------------------------------------ ssh, workflow_run, artifacts, jobs


@pytest.mark.parametrize(
    ("script", "status", "impact"),
    [
        ("ssh -o StrictHostKeyChecking=no deploy@host 'cd /srv && ./deploy.sh'", "fail", "P1"),
        ("ssh-keyscan host >> ~/.ssh/known_hosts\nscp app.tgz deploy@host:/srv/", "fail", "P2"),
        ('echo "${{ secrets.KNOWN_HOSTS }}" > ~/.ssh/known_hosts\nrsync -a ./ deploy@host:/srv/', "ok", "P2"),
    ],
)
def test_host_keys(script: str, status: str, impact: str) -> None:
    (row,) = check_ssh_host_keys([job(script)])
    assert (row.status, row.impact) == (status, impact), row.ist


def test_ssh_actions_default_to_no_host_key_check() -> None:
    def action(inputs: str) -> Workflow:
        return wf(
            f"""
            on: push
            jobs:
              d:
                runs-on: ubuntu-latest
                steps:
                  - uses: appleboy/ssh-action@v1
                    with:
                      host: h
                      script: cd /srv
                      {inputs}
            """
        )

    (bare,) = check_ssh_host_keys([action("port: 22")])
    (pinned,) = check_ssh_host_keys([action("fingerprint: ${{ secrets.HOST_FP }}")])
    assert bare.status == "fail" and "fingerprint" in bare.ist
    assert pinned.status == "ok"


WORKFLOW_RUN = """
on:
  workflow_run:
    workflows: [Build]
    types: [completed]
jobs:
  gate:
    if: {gate}
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
  deploy:
    needs: gate
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: rsync -a ./ deploy@host:/srv/
"""


@pytest.mark.parametrize(
    ("gate", "status"),
    [
        ("github.event.workflow_run.conclusion == 'success'", "ok"),
        ("github.event.workflow_run.event == 'push'", "fail"),
    ],
)
def test_workflow_run_deploy_needs_a_successful_build(gate: str, status: str) -> None:
    (row,) = check_workflow_run_success([wf(WORKFLOW_RUN.replace("{gate}", gate))])
    assert row.status == status and row.impact == "P0"


def test_workflow_run_job_that_takes_no_code_is_p1() -> None:
    text = WORKFLOW_RUN.replace("{gate}", "always()").replace("      - uses: actions/checkout@v4\n", "")
    (row,) = check_workflow_run_success([wf(text)])
    assert (row.status, row.impact) == ("fail", "P1") and "takes no code" in row.ist


def _artifacts(deploy: str, build: str) -> dict[str, Finding]:
    rows = check_deploy_before_build([wf(deploy, "release.yml"), wf(build, "build.yml")])
    return {r.subject: r for r in rows}


BUILD = """
on: push
jobs:
  b:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/upload-artifact@v4
        with:
          name: bundle-${{ github.sha }}
"""


def _deploy(with_: str) -> str:
    return f"""
on:
  workflow_run:
    workflows: [Build]
    types: [completed]
jobs:
  d:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          {with_}
      - run: rsync -a ./ deploy@host:/srv/
"""


def test_an_artifact_of_another_workflow_needs_its_run_id() -> None:
    missing = _artifacts(_deploy("name: bundle-${{ github.sha }}"), BUILD)
    given = _artifacts(
        _deploy("name: bundle-${{ github.sha }}\n          run-id: ${{ github.event.workflow_run.id }}"), BUILD
    )
    assert missing["release.yml#run-id"].status == "fail" and "without `run-id`" in missing["release.yml#run-id"].ist
    assert given["release.yml#run-id"].status == "ok"
    assert given["release.yml#bundle-name"].status == "ok"


def test_an_artifact_nobody_uploads_is_named() -> None:
    rows = _artifacts(_deploy("name: deploy-bundle\n          run-id: ${{ github.event.workflow_run.id }}"), BUILD)
    assert rows["release.yml#bundle-name"].status == "fail"


def test_deploys_are_recognised_by_what_they_do_not_by_name() -> None:
    release = job("rsync -a ./ deploy@host:/srv/app", name="release.yml")
    tests = job("php artisan test", name="deploy.yml")
    assert [j.id for j, _, _ in deploy_jobs(release)] == ["deploy"]
    assert deploy_jobs(tests) == []
    assert check_deploy_job_guards([tests]) == []


def test_deploy_job_guards() -> None:
    w = job(
        "rsync -a ./ deploy@host:/srv/app",
        head="on: push\nconcurrency:\n  group: prod\n  cancel-in-progress: true\n",
    )
    rows = {r.id: r for r in check_deploy_job_guards([w])}
    assert (
        rows["workflow.deploy-concurrency"].status == "fail"
        and "cancel-in-progress" in rows["workflow.deploy-concurrency"].ist
    )
    assert rows["workflow.deploy-environment"].impact == "P2"


def test_every_row_has_its_excerpt_and_line() -> None:
    w = job(
        """
        ID=$(jq -r '.[0].id' r.json)
        ssh -o StrictHostKeyChecking=no deploy@host "ln -sfn /srv/releases/$ID /srv/current"
        curl -sf https://example.org/health || true
        """
    )
    rows = run_checks([w])
    assert {r.id for r in rows} >= {"workflow.jq-null-guard", "workflow.ssh-host-key", "workflow.hardening"}
    for r in rows:
        if r.id != "workflow.duplicate-name":
            assert r.location and r.evidence.get("excerpt") and r.evidence.get("line"), r


def test_a_30_file_workflow_set_is_audited_in_well_under_2_s(tmp_path: Path) -> None:
    import time

    from bench.audit_repo_set import workflow_set

    from freigabe.usecases.repo_audit import audit_repo

    assert workflow_set(tmp_path, 30) == 30
    start = time.perf_counter()
    rows = audit_repo(tmp_path, linters=False)
    assert rows and time.perf_counter() - start < 2.0


def test_a_check_that_breaks_is_a_warning_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import freigabe.audit.checks as checks

    def broken(workflows: list[Workflow]) -> list[Finding]:
        raise KeyError("surprise")

    monkeypatch.setitem(checks.REGISTRY, "workflow.ssh-host-key", broken)
    rows = checks.run_checks([job("ssh -o StrictHostKeyChecking=no deploy@host 'cd /srv && ./deploy.sh'")])
    error = next(r for r in rows if r.id == "workflow.check-error")
    assert error.status == "warn" and "workflow.ssh-host-key" in error.ist
    assert any(r.id == "workflow.deploy-concurrency" for r in rows)


@pytest.mark.parametrize(
    "text",
    [
        "on: push\njobs:\n  a:\n    steps: [1, 2, {run: 5}, {uses: 7, with: [1]}]\n",
        "on: {push: null}\njobs: {a: null, b: {steps: null, needs: 5}}\n",
        'on: [push]\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: "$(( "\n',
    ],
)
def test_odd_shapes_do_not_raise(text: str) -> None:
    run_checks([parse_workflow(".github/workflows/x.yml", text)])
