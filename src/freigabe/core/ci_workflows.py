"""The GitHub Actions workflows `freigabe ci init` writes: pure text from the config.

* build: tests and layer-1 gates (`freigabe build`), the bundle and its `.sha256` uploaded as
  `deployment-bundle-<commit>`;
* one deploy workflow per environment, dispatched with the build's run id (the deploy takes the
  bundle from that run, never from a lookup that can yield `null`): a plan job (`freigabe
  plan`, report as the job summary and an artifact, plan id as output) and a deploy job in the
  GitHub Environment, approved either by the environment's required reviewers (same run) or by a
  second dispatch with the plan id and the phrase.

Actions are pinned by full commit SHA (the table below), every job has the least
`permissions:`, secrets reach only the `env:` of the step that needs them, SSH host keys come
from a `known_hosts` secret, `concurrency` is per environment, and the deploy runs `exec
freigabe …`, so a cancelled job's signals reach freigabe itself (GitHub signals the step's
entry process only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from freigabe.config.models import Config, approval_phrase
from freigabe.core.secret_names import environment_secret_names

Approval = Literal["reviewers", "phrase"]

# Full commit SHAs of the released tags (looked up in public workflows that pin them).
ACTIONS: dict[str, tuple[str, str, str]] = {
    "checkout": ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "setup-python": ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "upload-artifact": ("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "download-artifact": ("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
}
BUILD_FILE = "freigabe-build.yml"
AUDIT_TOKEN_SECRET = "FREIGABE_AUDIT_TOKEN"  # noqa: S105 — a secret's name: a token that may read branch protection


def deploy_file(env: str) -> str:
    return f"freigabe-deploy-{env}.yml"


def uses(key: str) -> str:
    repo, sha, tag = ACTIONS[key]
    return f"{repo}@{sha} # {tag}"


@dataclass(frozen=True)
class Generated:
    files: dict[str, str]  # file name under .github/workflows → text
    approvals: dict[str, Approval]


def _setup(ci_python: str, install: str, indent: str = "      ") -> str:
    return (
        f"{indent}- name: Check out\n"
        f"{indent}  uses: {uses('checkout')}\n"
        f"{indent}  with:\n"
        f"{indent}    persist-credentials: false\n"
        f"{indent}- name: Set up Python\n"
        f"{indent}  uses: {uses('setup-python')}\n"
        f"{indent}  with:\n"
        f'{indent}    python-version: "{ci_python}"\n'
        f"{indent}- name: Install freigabe\n"
        f"{indent}  run: python -m pip install '{install}'\n"
    )


def build_workflow(config: Config) -> str:
    ci = config.github.ci if config.github else None
    assert ci is not None
    out = config.build.output_dir.rstrip("/")
    branches = ", ".join(ci.branches)
    return (
        "# Written by `freigabe ci init`: tests, layer-1 gates and the bundle, uploaded for the deploys.\n"
        "name: freigabe build\n"
        "on:\n"
        "  push:\n"
        f"    branches: [{branches}]\n"
        "  workflow_dispatch:\n"
        "permissions: {}\n"
        "concurrency:\n"
        "  group: freigabe-build-${{ github.ref }}\n"
        "  cancel-in-progress: false\n"
        "jobs:\n"
        "  build:\n"
        "    name: build\n"
        f"    runs-on: {ci.runs_on}\n"
        "    permissions:\n"
        "      contents: read # check out freigabe.toml and the workflows\n"
        "    steps:\n" + _setup(ci.python, ci.install) + "      - name: Build, tests, layer-1 gates, bundle\n"
        '        run: freigabe build --sha "$GITHUB_SHA"\n'
        "      - name: Upload the bundle\n"
        f"        uses: {uses('upload-artifact')}\n"
        "        with:\n"
        "          name: deployment-bundle-${{ github.sha }}\n"
        "          path: |\n"
        f"            {out}/deployment-bundle-${{{{ github.sha }}}}.tar.gz\n"
        f"            {out}/deployment-bundle-${{{{ github.sha }}}}.tar.gz.sha256\n"
        "          if-no-files-found: error\n"
        f"          retention-days: {config.build.retention_days}\n"
    )


def _ssh_step(config: Config, env_name: str, indent: str = "      ") -> str:
    env = config.environment(env_name)
    if not any(t.startswith("ssh://") for t in env.targets) or config.github is None:
        return ""
    ci = config.github.ci
    key_file = env.ssh.key_file or "~/.ssh/id_ed25519"
    return (
        f"{indent}- name: SSH host keys and deploy key (from secrets)\n"
        f"{indent}  env:\n"
        f"{indent}    KNOWN_HOSTS: ${{{{ secrets.{ci.known_hosts_secret} }}}}\n"
        f"{indent}    SSH_KEY: ${{{{ secrets.{ci.ssh_key_secret} }}}}\n"
        f"{indent}  run: |\n"
        f'{indent}    if [ -z "$KNOWN_HOSTS" ]; then\n'
        f'{indent}      echo "::error::secret {ci.known_hosts_secret} is empty"\n'
        f"{indent}      exit 1\n"
        f"{indent}    fi\n"
        f"{indent}    known_hosts={_shell_path(env.ssh.known_hosts)}\n"
        f"{indent}    key_file={_shell_path(key_file)}\n"
        f'{indent}    mkdir -p "$(dirname "$known_hosts")" "$(dirname "$key_file")"\n'
        f'{indent}    printf \'%s\\n\' "$KNOWN_HOSTS" > "$known_hosts"\n'
        f'{indent}    (umask 077 && printf \'%s\\n\' "$SSH_KEY" > "$key_file")\n'
    )


def _shell_path(path: str) -> str:
    return '"$HOME"/' + path[2:] if path.startswith("~/") else f"'{path}'"


def _secret_env(config: Config, env_name: str, indent: str) -> str:
    names = environment_secret_names(config, env_name)
    lines = [f"{indent}  {name}: ${{{{ secrets.{name} }}}}\n" for name in names]
    return "".join(lines)


def deploy_workflow(config: Config, env_name: str, approval: Approval) -> str:
    assert config.github is not None
    ci = config.github.ci
    env = config.environment(env_name)
    out = config.build.output_dir.rstrip("/")
    phrase = approval_phrase(env_name, env)
    ssh = _ssh_step(config, env_name)
    download_bundle = (
        "      - name: Download the bundle of the build run\n"
        f"        uses: {uses('download-artifact')}\n"
        "        with:\n"
        "          pattern: deployment-bundle-*\n"
        "          merge-multiple: true\n"
        f"          path: {out}\n"
        "          run-id: ${{ inputs.build_run_id }}\n"
        "          github-token: ${{ github.token }}\n"
    )
    pick = (
        f"          set -- {out}/deployment-bundle-*.tar.gz\n"
        '          if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then\n'
        '            echo "::error::expected one bundle from build run $BUILD_RUN_ID, found: $*"\n'
        "            exit 1\n"
        "          fi\n"
    )
    phrase_inputs = (
        "      plan_id:\n"
        "        description: Plan id to approve (from the summary of a run without it); empty = plan only\n"
        "        required: false\n"
        "        type: string\n"
        '        default: ""\n'
        "      plan_run_id:\n"
        "        description: Run id of the run that made that plan\n"
        "        required: false\n"
        "        type: string\n"
        '        default: ""\n'
        "      approve:\n"
        f"        description: The phrase {phrase}\n"
        "        required: false\n"
        "        type: string\n"
        '        default: ""\n'
        if approval == "phrase"
        else ""
    )
    plan_if = "    if: inputs.plan_id == ''\n" if approval == "phrase" else ""
    if approval == "phrase":
        deploy_head = "    if: inputs.plan_id != ''\n"
        plan_source = (
            "      - name: Download the approved plan\n"
            f"        uses: {uses('download-artifact')}\n"
            "        with:\n"
            "          name: freigabe-plan-${{ inputs.plan_run_id }}\n"
            "          run-id: ${{ inputs.plan_run_id }}\n"
            "          github-token: ${{ github.token }}\n"
        )
        plan_env = "          PLAN_ID: ${{ inputs.plan_id }}\n          APPROVE: ${{ inputs.approve }}\n"
    else:
        deploy_head = "    needs: plan\n"
        plan_source = (
            "      - name: Download the plan the reviewers approved\n"
            f"        uses: {uses('download-artifact')}\n"
            "        with:\n"
            "          name: freigabe-plan-${{ github.run_id }}\n"
        )
        plan_env = f'          PLAN_ID: ${{{{ needs.plan.outputs.plan_id }}}}\n          APPROVE: "{phrase}"\n'
    return (
        f"# Written by `freigabe ci init`: plan, then deploy {env_name} behind its approval "
        f"({'required reviewers' if approval == 'reviewers' else 'the phrase, dispatched with the plan id'}).\n"
        f"name: freigabe deploy {env_name}\n"
        "on:\n"
        "  workflow_dispatch:\n"
        "    inputs:\n"
        "      build_run_id:\n"
        f"        description: Run id of the {BUILD_FILE} run whose bundle to deploy\n"
        "        required: true\n"
        "        type: string\n" + phrase_inputs + "permissions: {}\n"
        "concurrency:\n"
        f"  group: freigabe-deploy-{env_name}\n"
        "  cancel-in-progress: false\n"
        "jobs:\n"
        "  plan:\n"
        "    name: plan\n" + plan_if + f"    runs-on: {ci.runs_on}\n"
        "    permissions:\n"
        "      contents: read # check out freigabe.toml and the workflows\n"
        "      actions: read # download artifacts of another run (the build, the plan)\n"
        "    outputs:\n"
        "      plan_id: ${{ steps.plan.outputs.plan_id }}\n"
        "    steps:\n"
        + _setup(ci.python, ci.install)
        + download_bundle
        + ssh
        + "      - name: Plan (read-only; the report is this job's summary)\n"
        "        id: plan\n"
        "        env:\n"
        "          BUILD_RUN_ID: ${{ inputs.build_run_id }}\n"
        f"          GITHUB_TOKEN: ${{{{ secrets.{AUDIT_TOKEN_SECRET} || github.token }}}}\n"
        + _secret_env(config, env_name, "        ")
        + "        run: |\n"
        + pick
        + f'          freigabe plan {env_name} --bundle "$1"\n'
        "      - name: Keep the plan and its report\n"
        f"        uses: {uses('upload-artifact')}\n"
        "        with:\n"
        "          name: freigabe-plan-${{ github.run_id }}\n"
        "          path: |\n"
        "            .freigabe/plans/\n"
        "            reports/\n"
        "          include-hidden-files: true\n"
        "          if-no-files-found: error\n"
        "  deploy:\n"
        "    name: deploy\n" + deploy_head + f"    runs-on: {ci.runs_on}\n"
        "    environment:\n"
        f"      name: {env_name}\n"
        f"      url: {env.url}\n"
        "    permissions:\n"
        "      contents: read # check out freigabe.toml and the workflows\n"
        "      actions: read # download artifacts of another run (the build, the plan)\n"
        "    steps:\n"
        + _setup(ci.python, ci.install)
        + download_bundle
        + plan_source
        + ssh
        + "      - name: Deploy (approved plan only)\n"
        "        env:\n"
        "          BUILD_RUN_ID: ${{ inputs.build_run_id }}\n"
        + plan_env
        + "          FREIGABE_GITHUB_DEPLOYMENT: environment\n"
        + f"          FREIGABE_LEDGER_KEY: ${{{{ secrets.{ci.ledger_key_secret} }}}}\n"
        + _secret_env(config, env_name, "        ")
        + "        run: |\n"
        + pick
        + f'          exec freigabe deploy {env_name} --plan "$PLAN_ID" --approve "$APPROVE" --bundle "$1"\n'
        "      - name: Keep the ledger and the run's evidence\n"
        "        if: always()\n"
        f"        uses: {uses('upload-artifact')}\n"
        "        with:\n"
        "          name: deployment-ledger-${{ github.run_id }}\n"
        "          path: |\n"
        "            .freigabe/ledger/\n"
        "            .freigabe/runs/\n"
        "          include-hidden-files: true\n"
        "          if-no-files-found: warn\n"
    )


def generate(config: Config, approvals: dict[str, Approval]) -> Generated:
    files = {BUILD_FILE: build_workflow(config)}
    for env_name in config.environments:
        files[deploy_file(env_name)] = deploy_workflow(config, env_name, approvals[env_name])
    return Generated(files, approvals)
