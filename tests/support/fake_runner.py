"""The fake GitHub's runner: executes a dispatched workflow the way a hosted runner would.

Jobs run in `needs` order, each in a fresh workspace with its own HOME and RUNNER_TEMP. A
`run:` step is rendered (`${{ }}`), written to a file and executed as `bash -e FILE` with
GitHub's environment variables (GITHUB_ACTIONS, GITHUB_RUN_ID, GITHUB_SHA, GITHUB_STEP_SUMMARY,
GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, …) over this machine's environment, so it reaches the
loopback targets of the test. Secrets are masked in the log as `***`, like GitHub does, and
`::add-mask::` is honoured; the unmasked output is kept apart for the tests' secret checks.

Actions are emulated by what they do: `actions/checkout` copies the project, `setup-python`
puts this Python first on PATH, `upload-artifact`/`download-artifact` (v4: `name`, `pattern`,
`merge-multiple`, `run-id` + `github-token`, `include-hidden-files`) move zips through the fake
server. A job with `environment:` waits for a reviewer when the environment has required
reviewers, and creates a deployment with statuses, as GitHub does.

Cancelling follows GitHub's documented sequence: SIGINT to the step's entry process, SIGTERM
after 7.5 s, and after 2.5 s more the whole process tree is killed (the grace is shortened
by the tests through `FakeActions.grace`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import gha_expr

if TYPE_CHECKING:
    from .fake_actions import FakeActions

IGNORED_IN_CHECKOUT = {".freigabe", "dist", "servers", "reports", "failpoints", ".venv", "work"}


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StepFailed(Exception):
    pass


class FakeRunner(threading.Thread):
    def __init__(self, server: FakeActions, run: dict[str, Any], doc: dict[str, Any], inputs: dict[str, str]) -> None:
        super().__init__(daemon=True, name=f"fake-run-{run['id']}")
        self.s = server
        self.run_data = run
        self.doc = doc
        self.inputs = inputs
        self.rid = int(run["id"])
        self.results: dict[str, dict[str, Any]] = {}
        self.masks: set[str] = {v for v in server.secrets.values() if v} | {server.token}

    # ------------------------------------------------------------ state

    def _set(self, target: dict[str, Any], **fields: Any) -> None:
        with self.s.lock:
            target.update(fields)
            self.run_data["updated_at"] = iso()

    @property
    def cancelled(self) -> bool:
        return self.rid in self.s.cancel_requested

    def _mask(self, line: str) -> str:
        for secret in sorted(self.masks, key=len, reverse=True):
            if len(secret) >= 3:
                line = line.replace(secret, "***")
        return line

    # ------------------------------------------------------------ the run

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug in a test workflow: the run fails, visibly
            self._set(self.run_data, status="completed", conclusion="failure", error=f"{type(exc).__name__}: {exc}")

    def _run(self) -> None:
        while self.s.hold_queue and not self.cancelled:
            time.sleep(0.05)
        if self.cancelled:
            self._set(self.run_data, status="completed", conclusion="cancelled")
            return
        self._set(self.run_data, status="in_progress", run_started_at=iso())
        begun = time.monotonic()
        jobs: dict[str, dict[str, Any]] = self.doc.get("jobs") or {}
        order = self._order(jobs)
        for key in order:
            self._job(key, jobs[key])
        conclusions = [r["result"] for r in self.results.values()]
        if self.cancelled:
            conclusion = "cancelled"
        elif "failure" in conclusions:
            conclusion = "failure"
        else:
            conclusion = "success"
        self.s.timings[self.rid] = (begun, time.monotonic())  # the run's own time, to the millisecond (bench)
        self._set(self.run_data, status="completed", conclusion=conclusion)

    @staticmethod
    def _order(jobs: dict[str, dict[str, Any]]) -> list[str]:
        done: list[str] = []
        while len(done) < len(jobs):
            ready = [k for k, j in jobs.items() if k not in done and all(n in done for n in _list(j.get("needs")))]
            if not ready:
                raise ValueError("the jobs' needs form a cycle")
            done += ready[:1]
        return done

    def _contexts(self, job_env: dict[str, str], steps: dict[str, Any], needs: list[str]) -> dict[str, Any]:
        run = self.run_data
        return {
            "github": {
                "sha": run["head_sha"],
                "ref": f"refs/heads/{run['head_branch']}",
                "ref_name": run["head_branch"],
                "run_id": str(self.rid),
                "run_number": str(run["run_number"]),
                "run_attempt": "1",
                "repository": "acme/shop",
                "repository_owner": "acme",
                "event_name": run["event"],
                "server_url": "https://github.com",
                "api_url": self.s.url,
                "actor": "octocat",
                "token": self.s.token,
                "workflow": run["name"],
                "event": {"inputs": self.inputs},
            },
            "inputs": dict(self.inputs),
            "secrets": {"GITHUB_TOKEN": self.s.token, **self.s.secrets},
            "env": dict(job_env),
            "vars": {},
            "steps": steps,
            "needs": {n: self.results.get(n, {}) for n in needs},
            "runner": {"os": "Linux", "arch": "X64", "temp": job_env.get("RUNNER_TEMP", "")},
        }

    def _job(self, key: str, spec: dict[str, Any]) -> None:
        needs = _list(spec.get("needs"))
        name = str(spec.get("name") or key)
        jid = self.s.new_id()
        job = {
            "id": jid,
            "run_id": self.rid,
            "workflow_name": self.run_data["name"],
            "head_branch": self.run_data["head_branch"],
            "run_url": self.run_data["url"],
            "run_attempt": 1,
            "node_id": f"CR_{jid}",
            "head_sha": self.run_data["head_sha"],
            "url": f"{self.run_data['url'].rsplit('/runs/', 1)[0]}/jobs/{jid}",
            "html_url": f"{self.run_data['html_url']}/job/{jid}",
            "status": "queued",
            "conclusion": None,
            "created_at": iso(),
            "started_at": iso(),
            "completed_at": None,
            "name": name,
            "steps": [],
            "check_run_url": f"https://api.github.com/repos/acme/shop/check-runs/{jid}",
            "labels": _list(spec.get("runs-on")),
            "runner_id": 1,
            "runner_name": "fake-runner",
            "runner_group_id": 1,
            "runner_group_name": "GitHub Actions",
        }
        with self.s.lock:
            self.s.jobs[self.rid].append(job)
        upstream = [self.results.get(n, {}).get("result") for n in needs]

        def status(kind: str) -> bool:
            if kind == "always":
                return True
            if kind == "cancelled":
                return self.cancelled
            if kind == "failure":
                return any(r == "failure" for r in upstream)
            return not self.cancelled and all(r == "success" for r in upstream)

        contexts = self._contexts({}, {}, needs)
        if self.cancelled or not gha_expr.condition(spec.get("if"), contexts, status):
            result = "cancelled" if self.cancelled else "skipped"
            self._set(job, status="completed", conclusion=result, completed_at=iso())
            self.results[key] = {"result": result, "outputs": {}}
            return
        env_spec = spec.get("environment")
        environment = env_spec.get("name") if isinstance(env_spec, dict) else env_spec
        if environment and not self._wait_for_review(str(environment), job):
            self.results[key] = {"result": "cancelled" if self.cancelled else "failure", "outputs": {}}
            return
        deployment = None
        if environment:
            deployment = self.s.create_deployment(
                {"ref": self.run_data["head_branch"], "environment": environment, "task": "deploy"}
            )
            self.s.add_status(deployment["id"], {"state": "in_progress", "log_url": job["html_url"]})
        self._set(job, status="in_progress", started_at=iso())
        result, _outputs, steps_ctx, job_env = self._steps(key, name, spec, job, needs, status)
        self._set(job, status="completed", conclusion=result, completed_at=iso())
        contexts = self._contexts(job_env, steps_ctx, needs)
        rendered_outputs = {
            k: gha_expr.text(gha_expr.render(v, contexts)) for k, v in (spec.get("outputs") or {}).items()
        }
        self.results[key] = {"result": result, "outputs": rendered_outputs}
        if deployment is not None:
            url = env_spec.get("url") if isinstance(env_spec, dict) else None
            self.s.add_status(
                deployment["id"],
                {
                    "state": "success" if result == "success" else "failure",
                    "log_url": job["html_url"],
                    "environment_url": gha_expr.text(gha_expr.render(url, contexts)) if url else "",
                },
            )

    def _wait_for_review(self, environment: str, job: dict[str, Any]) -> bool:
        env = self.s.environments.get(environment)
        if not env or not env.get("reviewers"):
            return True
        body = self.s.environment_body(environment) or {}
        pending = {
            "environment": {k: body[k] for k in ("id", "node_id", "name", "url", "html_url")},
            "wait_timer": 0,
            "wait_timer_started_at": None,
            "current_user_can_approve": True,
            "reviewers": body["protection_rules"][0]["reviewers"],
        }
        with self.s.lock:
            self.s.pending.setdefault(self.rid, []).append(pending)
        self._set(job, status="waiting")
        self._set(self.run_data, status="waiting")
        asked = time.monotonic()
        while environment not in self.s.approved.get(self.rid, set()):
            if environment in self.s.auto_approve and time.monotonic() - asked > self.s.review_delay:
                self.s.approve(self.rid, environment)  # the reviewer takes a moment, then approves
            if self.cancelled:
                self._set(job, status="completed", conclusion="cancelled", completed_at=iso())
                break
            time.sleep(0.05)
        with self.s.lock:
            self.s.pending[self.rid].remove(pending)
        if self.cancelled:
            return False
        self._set(self.run_data, status="in_progress")
        return True

    # ------------------------------------------------------------ steps

    def _steps(
        self, key: str, name: str, spec: dict[str, Any], job: dict[str, Any], needs: list[str], status: Any
    ) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]:
        home = self.s.work / f"run-{self.rid}" / key
        workspace, temp = home / "workspace", home / "temp"
        for folder in (workspace, temp, home / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        base_env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("GITHUB_", "RUNNER_")) and k not in self.s.secrets and k != "GH_TOKEN"
            },
            "CI": "true",
            "HOME": str(home / "home"),
            "PIP_NO_INDEX": "1",  # the runner reaches no package index: only what is installed
            "GITHUB_ACTIONS": "true",
            "GITHUB_RUN_ID": str(self.rid),
            "GITHUB_RUN_NUMBER": str(self.run_data["run_number"]),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": key,
            "GITHUB_WORKFLOW": self.run_data["name"],
            "GITHUB_WORKFLOW_REF": f"acme/shop/{self.run_data['path']}@refs/heads/{self.run_data['head_branch']}",
            "GITHUB_SHA": self.run_data["head_sha"],
            "GITHUB_REF": f"refs/heads/{self.run_data['head_branch']}",
            "GITHUB_REF_NAME": self.run_data["head_branch"],
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_REPOSITORY_OWNER": "acme",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": self.s.url,
            "GITHUB_EVENT_NAME": self.run_data["event"],
            "GITHUB_ACTOR": "octocat",
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        base_env.pop("FREIGABE_ACTOR", None)
        contexts = self._contexts({}, {}, needs)
        job_env: dict[str, str] = {}
        for scope in (self.doc.get("env") or {}, spec.get("env") or {}):
            job_env.update({k: gha_expr.text(gha_expr.render(v, contexts)) for k, v in scope.items()})
        extra_path: list[str] = []
        steps_ctx: dict[str, Any] = {}
        step_specs = list(spec.get("steps") or [])
        records: list[tuple[int, str, list[str]]] = []
        job_logs = self.s.logs[self.rid].setdefault(str(spec.get("name") or key), records)
        state = {"failed": False}
        numbered = [("Set up job", None), *[(self._step_name(st), st) for st in step_specs], ("Complete job", None)]
        step_rows: list[dict[str, Any]] = [
            {"name": n, "status": "queued", "conclusion": None, "number": i, "started_at": None, "completed_at": None}
            for i, (n, _) in enumerate(numbered, start=1)
        ]
        self._set(job, steps=step_rows)
        for row, (step_name, st) in zip(step_rows, numbered, strict=True):
            lines: list[str] = []
            job_logs.append((int(row["number"] or 0), step_name, lines))
            self._set(row, status="in_progress", started_at=iso())
            if st is None:
                lines.append(f"{stamp()} {step_name}: fake runner on 127.0.0.1")
                self._set(row, status="completed", conclusion="success", completed_at=iso())
                continue

            def step_status(kind: str) -> bool:
                if kind == "always":
                    return True
                if kind == "cancelled":
                    return self.cancelled
                if kind == "failure":
                    return state["failed"]
                return not state["failed"] and not self.cancelled

            contexts = self._contexts(job_env, steps_ctx, needs)
            if not gha_expr.condition(st.get("if"), contexts, step_status):
                self._set(row, status="completed", conclusion="skipped", completed_at=iso())
                continue
            env = {**base_env, **job_env}
            env.update({k: gha_expr.text(gha_expr.render(v, contexts)) for k, v in (st.get("env") or {}).items()})
            if extra_path:
                env["PATH"] = os.pathsep.join([*extra_path, env.get("PATH", "")])
            files = {n: temp / f"{n.lower()}-{row['number']}" for n in ("OUTPUT", "ENV", "STEP_SUMMARY", "PATH")}
            for var, path in files.items():
                path.write_text("")
                env[f"GITHUB_{var}"] = str(path)
            try:
                if "uses" in st:
                    self._action(st, contexts, workspace, extra_path, lines)
                    outcome = "success"
                else:
                    outcome = self._shell(st, contexts, env, workspace, lines)
            except StepFailed as exc:
                lines.append(f"{stamp()} ##[error]{exc}")
                outcome = "failure"
            outputs = _read_kv(files["OUTPUT"].read_text())
            job_env.update(_read_kv(files["ENV"].read_text()))
            extra_path[:0] = [p for p in files["PATH"].read_text().splitlines() if p]
            summary = files["STEP_SUMMARY"].read_text()
            if summary:
                with self.s.lock:
                    self.s.summaries.setdefault(self.rid, {})[f"{key}/{row['number']}"] = summary
            if self.cancelled and outcome != "success":
                outcome = "cancelled"
            if outcome == "failure" and st.get("continue-on-error"):
                outcome = "success"
            if st.get("id"):
                steps_ctx[str(st["id"])] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
            self._set(row, status="completed", conclusion=outcome, completed_at=iso())
            if outcome in ("failure", "cancelled"):
                state["failed"] = True
        if self.cancelled:
            return "cancelled", {}, steps_ctx, job_env
        return ("failure" if state["failed"] else "success"), {}, steps_ctx, job_env

    @staticmethod
    def _step_name(st: dict[str, Any]) -> str:
        if st.get("name"):
            return str(st["name"])
        if st.get("uses"):
            return f"Run {st['uses']}"
        return "Run " + str(st.get("run", "")).strip().splitlines()[0][:60]

    def _log(self, lines: list[str], text: str) -> None:
        for raw in text.splitlines():
            with self.s.lock:
                self.s.raw_output[self.rid].append(raw)
            if raw.startswith("::add-mask::"):
                self.masks.add(raw[len("::add-mask::") :].strip())
                continue
            line = raw
            if raw.startswith("::group::"):
                line = "##[group]" + raw[len("::group::") :]
            elif raw.startswith("::endgroup::"):
                line = "##[endgroup]"
            elif raw.startswith(("::error", "::warning", "::notice")):
                kind, _, message = raw[2:].partition("::")
                line = f"##[{kind.split(' ')[0]}]{message}"
            lines.append(f"{stamp()} {self._mask(line)}")

    def _shell(
        self, st: dict[str, Any], contexts: dict[str, Any], env: dict[str, str], cwd: Path, lines: list[str]
    ) -> str:
        script = gha_expr.render(str(st["run"]), contexts)
        temp = Path(env["RUNNER_TEMP"])
        path = temp / f"step-{time.monotonic_ns()}.sh"
        path.write_text(str(script))
        shell = str(st.get("shell") or "")
        argv = (
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)]
            if shell == "bash"
            else ["bash", "-e", str(path)]
        )
        workdir = cwd / str(st.get("working-directory", "."))
        proc = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        reader = threading.Thread(target=self._pump, args=(proc, lines), daemon=True)
        reader.start()
        signalled = False
        while proc.poll() is None:
            if self.cancelled and not signalled:
                signalled = True
                threading.Thread(target=self._cancel_step, args=(proc, lines), daemon=True).start()
            time.sleep(0.02)
        reader.join(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the step is over: nothing it started outlives it
        code = proc.returncode
        if code != 0:
            lines.append(f"{stamp()} ##[error]Process completed with exit code {code}.")
            return "cancelled" if self.cancelled else "failure"
        return "success"

    def _pump(self, proc: subprocess.Popen[bytes], lines: list[str]) -> None:
        assert proc.stdout is not None
        for chunk in iter(proc.stdout.readline, b""):
            self._log(lines, chunk.decode("utf-8", "replace").rstrip("\n"))

    def _cancel_step(self, proc: subprocess.Popen[bytes], lines: list[str]) -> None:
        first, second = self.s.grace
        for sig, wait in ((signal.SIGINT, first), (signal.SIGTERM, second)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)  # the step's entry process only, as GitHub's runner does
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
                return
        lines.append(f"{stamp()} ##[error]The operation was canceled.")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    # ------------------------------------------------------------ actions

    def _action(
        self, st: dict[str, Any], contexts: dict[str, Any], workspace: Path, extra_path: list[str], lines: list[str]
    ) -> None:
        uses = str(st["uses"])
        action = uses.split("@", 1)[0]
        given = {k: gha_expr.text(gha_expr.render(v, contexts)) for k, v in (st.get("with") or {}).items()}
        self._log(lines, f"Run {uses}")
        if action == "actions/checkout":
            shutil.copytree(
                self.s.repo_dir,
                workspace,
                dirs_exist_ok=True,
                symlinks=True,
                ignore=lambda d, names: [n for n in names if n in IGNORED_IN_CHECKOUT and Path(d) == self.s.repo_dir],
            )
        elif action == "actions/setup-python":
            extra_path.insert(0, str(Path(sys.executable).parent))
            self._log(lines, f"Successfully set up CPython ({sys.version.split()[0]})")
        elif action == "actions/upload-artifact":
            self._upload(given, workspace, lines)
        elif action == "actions/download-artifact":
            self._download(given, workspace, lines)
        else:
            raise StepFailed(f"the fake runner does not emulate {uses}")

    def _upload(self, given: dict[str, str], workspace: Path, lines: list[str]) -> None:
        hidden = given.get("include-hidden-files", "false") == "true"
        files: list[Path] = []
        roots: list[Path] = []
        for pattern in [p.strip() for p in given.get("path", "").splitlines() if p.strip()]:
            base = workspace / pattern
            matches = [base] if base.exists() else sorted(workspace.glob(pattern))
            for match in matches:
                roots.append(match if match.is_dir() else match.parent)
                found = [match] if match.is_file() else sorted(p for p in match.rglob("*") if p.is_file())
                files += [
                    f
                    for f in found
                    if hidden
                    or not any(
                        part.startswith(".") for part in f.relative_to(match if match.is_dir() else match.parent).parts
                    )
                ]
        if not files:
            if given.get("if-no-files-found", "warn") == "error":
                raise StepFailed(f"No files were found with the provided path: {given.get('path')}")
            self._log(lines, "No files were found with the provided path. No artifacts will be uploaded.")
            return
        root = Path(os.path.commonpath([str(r) for r in roots]))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f.relative_to(root).as_posix())
        try:
            art = self.s.add_artifact(self.rid, given["name"], buffer.getvalue())
        except ValueError as exc:
            raise StepFailed(str(exc)) from None
        self._log(
            lines,
            f"Artifact {art['name']} has been successfully uploaded! Final size is {art['size_in_bytes']} bytes. Artifact ID is {art['id']}",
        )

    def _download(self, given: dict[str, str], workspace: Path, lines: list[str]) -> None:
        rid = int(given["run-id"]) if given.get("run-id") else self.rid
        if given.get("run-id") and not given.get("github-token"):
            raise StepFailed("run-id needs github-token")
        with self.s.lock:
            available = list(self.s.artifacts.get(rid, []))
        if given.get("name"):
            chosen = [a for a in available if a["name"] == given["name"]]
            if not chosen:
                raise StepFailed(f"Artifact not found for name: {given['name']}")
        else:
            chosen = [a for a in available if fnmatch.fnmatch(a["name"], given.get("pattern", "*"))]
            if not chosen:
                raise StepFailed(f"no artifact matches {given.get('pattern')} in run {rid}")
        dest = workspace / given.get("path", ".")
        for art in chosen:
            target = dest if given.get("name") or given.get("merge-multiple") == "true" else dest / art["name"]
            target.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(io.BytesIO(self.s.blobs[f"artifact-{art['id']}"])) as zf:
                zf.extractall(target)
            self._log(lines, f"Artifact download completed successfully: {art['name']} into {target}")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _read_kv(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `name=value` lines and `name<<DELIM` … `DELIM` blocks."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out
