#!/usr/bin/env python3
"""Break one trust invariant at a time in a copy of the code and see whether the tests notice.

Each mutant below is named after the invariant it breaks and says, as text replacements,
how. It is applied to a temporary copy of `src/` and `tests/` (never to the tree), the
tests that should catch it run against the copy, and a table shows killed / survived.
A mutant whose text is no longer in the code is reported as `stale`: the code moved, and
the mutant must be updated with it (a stale mutant guards nothing).

    python tools/mutate.py                 # all mutants
    python tools/mutate.py -k rollback     # those whose name contains "rollback"
    python tools/mutate.py --full          # survivors also run against the whole suite
    python tools/mutate.py --list

Run it before resolving an issue that touches the engine, the transports, the ledger, the
redactor or the audit decision; put the table in the closing note. Goal: every mutant killed.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str  # the invariant it breaks
    file: str  # relative to the repository root
    edits: tuple[tuple[str, str], ...]  # (text in the code, what replaces it)
    tests: tuple[str, ...]  # pytest node ids or files that must catch it


def m(name: str, file: str, *edits: tuple[str, str], tests: tuple[str, ...]) -> Mutant:
    return Mutant(name, file, edits, tests)


INV = "tests/test_invariants.py"
E2E = "tests/test_deploy_e2e.py"

MUTANTS: list[Mutant] = [
    # -- digest
    m(
        "digest: not verified on the target",
        "src/freigabe/engine/actions/bundle_verify.py",
        ("    if received.sha256 != args.sha256:", "    if False:"),
        tests=(f"{INV}::test_a_bundle_changed_on_the_way_is_refused_at_verify",),
    ),
    m(
        "digest: local bundle not checked against its .sha256",
        "src/freigabe/adapters/bundle.py",
        ("    if actual != expected:\n        raise BundleError(", "    if False:\n        raise BundleError("),
        tests=(f"{E2E}::test_digest_mismatch_is_refused", "tests/test_bundle.py"),
    ),
    # -- safe extraction
    m(
        "extraction: absolute member paths allowed",
        "src/freigabe/adapters/bundle.py",
        ('    if raw.startswith("/"):', "    if False:"),
        tests=(f"{E2E}::test_unsafe_bundle_is_refused_before_anything_is_written", "tests/test_bundle.py"),
    ),
    m(
        "extraction: '..' in member paths allowed",
        "src/freigabe/adapters/bundle.py",
        ('    if ".." in name.split("/"):', "    if False:"),
        tests=(f"{E2E}::test_unsafe_bundle_is_refused_before_anything_is_written", "tests/test_bundle.py"),
    ),
    m(
        "extraction: links out of the release allowed",
        "src/freigabe/adapters/bundle.py",
        ("if not _inside(posixpath.dirname(name), member.linkname):", "if False:"),
        tests=(f"{E2E}::test_unsafe_bundle_is_refused_before_anything_is_written", "tests/test_bundle.py"),
    ),
    m(
        "extraction: devices and FIFOs allowed",
        "src/freigabe/adapters/bundle.py",
        (
            "                else:\n                    kind = (",
            "                elif False:\n                    kind = (",
        ),
        tests=(f"{E2E}::test_unsafe_bundle_is_refused_before_anything_is_written", "tests/test_bundle.py"),
    ),
    # -- switch
    m(
        "switch: local link removed, then created (a moment without current)",
        "src/freigabe/adapters/transport/local.py",
        (
            '            os.symlink(target, tmp)\n            failpoints.hit("switch.tmp-link")\n'
            "            os.replace(tmp, path)",
            "            if os.path.lexists(path):\n                os.unlink(path)\n"
            "            os.symlink(target, path)",
        ),
        tests=(f"{INV}::test_current_is_never_missing_during_deploy_and_rollback", "tests/test_transport.py"),
    ),
    m(
        "switch: SSH link removed, then created",
        "src/freigabe/adapters/transport/remote_shell.py",
        (
            '  if s=$(mv -fT -- "$1" "$2" 2>&1); then',
            '  if s=$(rm -f -- "$2"; mv -f -- "$1" "$2" 2>&1); then',
        ),
        tests=(f"{INV}::test_current_is_never_missing_during_deploy_and_rollback", "tests/test_transport.py"),
    ),
    # -- stale plan, phrase, decision
    m(
        "stale plan: a changed live release accepted",
        "src/freigabe/usecases/planning.py",
        ("    if current != plan.inputs.current_release:", "    if False:"),
        tests=(f"{E2E}::test_wrong_phrase_other_plan_and_stale_plan_are_refused", "tests/test_plan.py"),
    ),
    m(
        "stale plan: a changed config accepted",
        "src/freigabe/usecases/planning.py",
        ("    if loaded.digest != plan.inputs.config_digest:", "    if False:"),
        tests=(f"{E2E}::test_wrong_phrase_other_plan_and_stale_plan_are_refused", "tests/test_plan.py"),
    ),
    m(
        "stale plan: a changed bundle accepted",
        "src/freigabe/usecases/planning.py",
        (
            "    if plan.inputs.bundle_sha256 is not None and bundle_sha256 != plan.inputs.bundle_sha256:",
            "    if False:",
        ),
        tests=("tests/test_plan.py",),
    ),
    m(
        "phrase: any phrase approves",
        "src/freigabe/usecases/planning.py",
        ('    given = " ".join(phrase.split())\n', '    given = " ".join(phrase.split())\n    return\n'),
        tests=(f"{E2E}::test_wrong_phrase_other_plan_and_stale_plan_are_refused", "tests/test_plan.py"),
    ),
    m(
        "decision: a NO-GO plan can be approved",
        "src/freigabe/usecases/planning.py",
        ('    if plan.decision is not None and plan.decision.verdict == "NO-GO":', "    if False:"),
        tests=("tests/test_audit_server.py::test_a_p1_makes_production_no_go_and_the_deploy_is_refused",),
    ),
    m(
        "decision: a P0 failure does not block",
        "src/freigabe/core/decision.py",
        ("    blocking_impacts = policy.no_go_production if prod else policy.no_go", "    blocking_impacts = []"),
        tests=("tests/test_decision.py",),
    ),
    # -- rollback
    m(
        "rollback target: the newest other release by name, not the one live before",
        "src/freigabe/usecases/planning.py",
        (
            "        current = target.current()\n        config = resolved_config(",
            "        current = target.current()\n"
            "        names = [n for n in target.transport.listdir(target.layout.releases) if not n.startswith('.')]\n"
            "        guess = max(names, default=current)\n        config = resolved_config(",
        ),
        (
            "rollback_steps=pipeline.rollback_steps(config, env_name, release, current),",
            "rollback_steps=pipeline.rollback_steps(config, env_name, release, guess),",
        ),
        tests=(f"{INV}::test_rollback_returns_to_the_release_live_before_not_a_newer_bad_one",),
    ),
    m(
        "rollback target: a release marked bad may be chosen",
        "src/freigabe/usecases/rollback.py",
        ('    if marks.get(to) == "bad":', "    if False:"),
        tests=(f"{INV}::test_rollback_returns_to_the_release_live_before_not_a_newer_bad_one",),
    ),
    m(
        "rollback verification: restored release not checked at all",
        "src/freigabe/core/pipeline.py",
        ("    return steps + (_verify_steps(env, release, prefix, on_failure) if web else [])", "    return steps"),
        tests=(f"{INV}::test_a_restored_release_that_fails_is_never_called_verified",),
    ),
    m(
        "rollback verification: restored release's health not checked",
        "src/freigabe/core/pipeline.py",
        (
            "    return steps + (_verify_steps(env, release, prefix, on_failure) if web else [])",
            "    return steps + (_verify_steps(env, release, prefix, on_failure)[:1] if web else [])",
        ),
        tests=(f"{INV}::test_a_restored_release_that_fails_is_never_called_verified",),
    ),
    m(
        "rollback: a failure after the switch does not roll back",
        "src/freigabe/engine/executor.py",
        (
            '        if self.ctx.switched and (step.on_failure == "rollback" or isinstance(outcome.error, '
            "ConnectionLost)):",
            "        if False:",
        ),
        tests=(f"{E2E}::test_health_500_rolls_back",),
    ),
    # -- readiness and health
    m(
        "readiness: passes without the new release answering",
        "src/freigabe/engine/actions/wait_ready.py",
        ("        if seen == want:", "        if True:"),
        tests=(f"{INV}::test_health_is_not_enough_the_new_release_must_answer",),
    ),
    m(
        "health: the status code is not judged",
        "src/freigabe/adapters/health.py",
        ("    if response.status_code != expected:", "    if False:"),
        tests=(f"{E2E}::test_health_500_rolls_back", "tests/test_small_parts.py"),
    ),
    m(
        "health: refused credentials before the deploy only warn",
        "src/freigabe/engine/actions/url_check.py",
        ("        if result.attempts and result.attempts[-1].status in (401, 403):", "        if False:"),
        tests=(f"{E2E}::test_wrong_ci_token_stops_before_anything_changes",),
    ),
    # -- ledger
    m(
        "ledger: an edited entry's hash not checked",
        "src/freigabe/core/ledger.py",
        ('        if entry.get("hash") != entry_hash(entry):', "        if False:"),
        tests=(f"{E2E}::test_ledger_verify_detects_tampering", "tests/test_ledger.py"),
    ),
    m(
        "ledger: the prev link not checked",
        "src/freigabe/core/ledger.py",
        ('        if entry.get("prev") != prev_hash:', "        if False:"),
        tests=(f"{INV}::test_an_entry_spliced_in_from_another_ledger_breaks_the_chain",),
    ),
    m(
        "ledger: the sequence not checked",
        "src/freigabe/core/ledger.py",
        ("        if seq != expected_seq:", "        if False:"),
        tests=("tests/test_ledger.py",),
    ),
    m(
        "ledger: a cut tail not compared with the local copy",
        "src/freigabe/core/ledger.py",
        ("    if not problems and len(target) < len(local):", "    if False:"),
        tests=(f"{E2E}::test_ledger_verify_detects_tampering", "tests/test_ledger.py"),
    ),
    # -- redaction
    m(
        # The values are registered where the config loads and again for the plan's own names
        # (usecases/apply.py); breaking only one of the two leaves the other guarding.
        "redaction: the secret values the config names are never registered",
        "src/freigabe/core/redact.py",
        ("        for value in values:\n            self.add(value)\n        return self", "        return self"),
        tests=(f"{INV}::test_a_gate_printing_the_bare_token_never_shows_it", f"{E2E}::test_no_secret_anywhere"),
    ),
    m(
        "redaction: command output not redacted",
        "src/freigabe/engine/actions/command.py",
        ("            clean = ctx.redactor.text(line)", "            clean = line"),
        tests=(f"{INV}::test_a_gate_printing_the_bare_token_never_shows_it",),
    ),
    m(
        "redaction: known values not replaced",
        "src/freigabe/core/redact.py",
        ("            value = value.replace(secret, MASK)", "            pass"),
        tests=(f"{INV}::test_a_gate_printing_the_bare_token_never_shows_it", "tests/test_small_parts.py"),
    ),
    # -- lock
    m(
        "lock: the local lock file does not exclude",
        "src/freigabe/adapters/transport/local.py",
        ("os.O_CREAT | os.O_EXCL | os.O_WRONLY", "os.O_CREAT | os.O_TRUNC | os.O_WRONLY"),
        tests=(f"{INV}::test_deploys_started_at_the_same_moment_run_one_at_a_time", "tests/test_transport.py"),
    ),
    m(
        "lock: taking it ignores a held lock",
        "src/freigabe/adapters/transport/base.py",
        ("    if not t.lock(lock, content):\n        return None", "    t.lock(lock, content)"),
        tests=(f"{INV}::test_deploys_started_at_the_same_moment_run_one_at_a_time",),
    ),
    m(
        "lock: the remote lock does not exclude",
        "src/freigabe/adapters/transport/remote_shell.py",
        (
            """fg_begin() {\n  if s=$( (set -C; base64 -d > "$1") 2>&1); then :""",
            """fg_begin() {\n  if s=$( (base64 -d > "$1") 2>&1); then :""",
        ),
        tests=("tests/test_transport.py::test_begin_locks_then_ends_orphans_and_looks_in_one_go",),
    ),
    m(
        "current: the switch's answer is not kept (the old link taken for live)",
        "src/freigabe/engine/actions/switch.py",
        ("        if known:\n            ctx.knows_link(after)", "        pass"),
        tests=("tests/test_engine.py::test_under_the_lock_the_live_link_is_read_once",),
    ),
    # -- backup
    m(
        "backup: a damaged backup is restored",
        "src/freigabe/engine/actions/backup_verify.py",
        ("    if not check.ok:", "    if False:"),
        tests=("tests/test_backup_restore.py::test_a_damaged_backup_is_not_restored",),
    ),
    m(
        "backup: a failing dump does not stop the deploy",
        "src/freigabe/core/pipeline.py",
        ('                on_failure="warn" if backup.best_effort else "abort",', '                on_failure="warn",'),
        tests=("tests/test_backup_restore.py::test_a_failing_dump_aborts_unless_best_effort",),
    ),
    # -- interrupts, plan once, unverified live release
    m(
        "interrupt: a signal after the switch does not roll back",
        "src/freigabe/engine/executor.py",
        (
            "        if ctx.switched:\n            self._rollback(step, outcome)\n"
            "        self._abort(step, outcome, interrupted=True)",
            "        self._abort(step, outcome, interrupted=True)",
        ),
        tests=("tests/test_interrupts.py::test_sigterm_during_readiness_rolls_back_and_verifies",),
    ),
    m(
        "plan once: an approved plan can run again",
        "src/freigabe/usecases/planning.py",
        (
            "    marker = plan_marker(layout, plan)\n    if transport.exists(marker):",
            "    marker = plan_marker(layout, plan)\n    if False:",
        ),
        ("    if not transport.lock(claim.path, claim.content.encode()):", "    if False:"),
        tests=("tests/test_interrupts.py::test_a_plan_runs_once",),
    ),
    m(
        "live release: an unverified live release counts as verified",
        "src/freigabe/core/runs.py",
        ('    verified = (outcome == "deployed" and', '    verified = True or (outcome == "deployed" and'),
        tests=("tests/test_interrupts.py::test_a_kill_after_the_switch_is_named_and_resolved",),
    ),
    # -- bundle policy
    m(
        "bundle: protected exclusions can be dropped",
        "src/freigabe/core/bundle_policy.py",
        (
            "    for pattern in (*PROTECTED, *default_exclude, *exclude, *extra):",
            "    for pattern in (*default_exclude, *exclude, *extra):",
        ),
        tests=("tests/test_bundle_policy.py::test_one_exclude_entry_never_ships_env_git_storage_or_tests",),
    ),
    m(
        "bundle: a secret in a foreign bundle is accepted",
        "src/freigabe/adapters/bundle.py",
        (
            "    if found:\n        member, why = next(iter(found.items()))",
            "    if False:\n        member, why = next(iter(found.items()))",
        ),
        tests=("tests/test_bundle_policy.py",),
    ),
    m(
        "bundle: a secret in the source tree is bundled",
        "src/freigabe/usecases/build.py",
        ("    if secrets:\n", "    if False:\n"),
        tests=("tests/test_bundle_policy.py",),
    ),
    m(
        "bundle: setuid/setgid/sticky members accepted",
        "src/freigabe/adapters/bundle.py",
        ("    if scan.bad_modes:", "    if False:"),
        tests=("tests/test_bundle_policy.py",),
    ),
    m(
        "extraction: the archive's mode bits are kept",
        "src/freigabe/adapters/transport/receive.py",
        ("--no-same-owner --no-same-permissions >", "--no-same-owner --same-permissions >"),
        tests=("tests/test_bundle_policy.py::test_extraction_takes_neither_owner_nor_group_or_other_write",),
    ),
    # -- waivers
    m(
        "waiver: a waiver survives a change of its file",
        "src/freigabe/usecases/waive.py",
        ('        if waiver.get("basis") == basis(finding, root):', "        if True:"),
        tests=("tests/test_waivers.py",),
    ),
    # -- token
    m(
        "token: differing digests pass",
        "src/freigabe/audit/server.py",
        ("    same = f.token_local_digest == f.token_remote_digest", "    same = True"),
        tests=("tests/test_audit_server.py::test_token_digest_match_mismatch_and_pending",),
    ),
]


@dataclass
class Result:
    mutant: Mutant
    verdict: str  # killed | survived | stale | invalid | inconclusive
    seconds: float
    detail: str = ""


def _copy_tree(workdir: Path) -> None:
    for name in ("src", "tests", "tools"):
        shutil.copytree(ROOT / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", workdir / "pyproject.toml")


def _apply(mutant: Mutant, workdir: Path) -> str | None:
    path = workdir / mutant.file
    text = path.read_text(encoding="utf-8")
    for old, new in mutant.edits:
        count = text.count(old)
        if count != 1:
            return f"{old.strip()[:60]!r} found {count}× in {mutant.file}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return None


def _pytest(workdir: Path, targets: list[str], timeout: float) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(workdir / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header", *targets]
    try:
        proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 1, "timed out (counts as killed: the suite did not pass)"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    return proc.returncode, (lines[0] if lines else last[0])[:140]


def run(mutant: Mutant, full: bool, timeout: float) -> Result:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="freigabe-mutant-") as tmp:
        workdir = Path(tmp)
        _copy_tree(workdir)
        problem = _apply(mutant, workdir)
        if problem:
            return Result(mutant, "stale", 0.0, problem)
        try:
            py_compile.compile(str(workdir / mutant.file), doraise=True)
        except py_compile.PyCompileError as exc:  # a mutant that does not compile tests nothing
            return Result(mutant, "invalid", 0.0, str(exc).splitlines()[-1][:140])
        code, detail = _pytest(workdir, list(mutant.tests), timeout)
        if code == 0 and full:
            code, detail = _pytest(workdir, ["tests"], timeout * 4)
        # An error in a fixture proves nothing about the invariant: the mutant must fail a test.
        verdict = "survived" if code == 0 else ("inconclusive" if detail.startswith("ERROR") else "killed")
        return Result(mutant, verdict, time.monotonic() - started, detail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="match", default="", help="only mutants whose name contains this")
    parser.add_argument("--full", action="store_true", help="run the whole suite against survivors")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per test run")
    args = parser.parse_args()
    chosen = [mt for mt in MUTANTS if args.match.lower() in mt.name.lower()]
    if args.list:
        for mt in chosen:
            print(f"{mt.name}  [{mt.file}]")
        return 0
    results = []
    for index, mutant in enumerate(chosen, start=1):
        print(f"[{index}/{len(chosen)}] {mutant.name} …", end="", flush=True)
        result = run(mutant, args.full, args.timeout)
        results.append(result)
        print(f" {result.verdict} ({result.seconds:.0f} s)")
    width = max(len(r.mutant.name) for r in results) if results else 10
    print(f"\n| {'mutant (invariant broken)'.ljust(width)} | verdict  | s    | caught by / why |")
    print(f"|{'-' * (width + 2)}|----------|------|---|")
    for r in results:
        print(f"| {r.mutant.name.ljust(width)} | {r.verdict:<8} | {r.seconds:4.0f} | {r.detail} |")
    counts = {
        v: sum(r.verdict == v for r in results) for v in ("killed", "survived", "stale", "invalid", "inconclusive")
    }
    print(", ".join(f"{n} {v}" for v, n in counts.items()) + f" of {len(results)}")
    return 0 if counts["killed"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
