"""`freigabe --help` (and a mistyped option) loads the command line only: no use case, engine,
adapter, configuration model or renderer, none of the heavy libraries the commands need, and no
work done at import that only a command needs (JSON, the redactor's patterns). The help is still
Typer's, made from the real commands, in Click's plain layout (Typer's Rich panels would load
markdown-it and Pygments: about 60 ms of a 0.15 s budget); the terminal's console is made when
something is first printed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from freigabe.cli import app

# what a command loads when it runs, never for the help (a subcommand's help and a usage error
# build that command's parameters: Typer itself loads pydantic for them)
HEAVY = ("httpx", "asyncssh", "jinja2", "sqlglot", "yaml", "tomllib", "json", "rich", "markdown_it", "pygments")
OWN_ALLOWED = {
    "freigabe",
    "freigabe.cli",
    "freigabe.core",
    "freigabe.core.names",
    "freigabe.core.redact",
    "freigabe.core.words",
    "freigabe.errors",
    "freigabe.interrupts",
}
PROBE = """
import contextlib, io, sys
sys.argv = ["freigabe", *sys.argv[1:]]
from freigabe.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        main()
    except SystemExit:
        pass
loaded = sorted(sys.modules)
compiled = sys.modules["freigabe.core.redact"]._patterns.cache_info().currsize
import json
sys.__stdout__.write(json.dumps({"modules": loaded, "patterns": compiled, "help": out.getvalue()}))
"""


def _probe(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize(
    ("args", "heavy"),
    [(["--help"], (*HEAVY, "pydantic")), (["plan", "--help"], HEAVY), (["deploy", "--no-such-option"], HEAVY)],
)
def test_help_and_usage_errors_load_only_the_command_line(args: list[str], heavy: tuple[str, ...]) -> None:
    seen = _probe(*args)
    modules = set(seen["modules"])  # type: ignore[call-overload]
    assert {m for m in modules if m.startswith("freigabe")} <= OWN_ALLOWED
    loaded = sorted(m for m in modules if m.split(".")[0] in heavy)
    assert not loaded, f"{args} loads {loaded}"
    assert seen["patterns"] == 0  # the redactor's patterns are compiled when something is redacted


def test_the_help_is_typers_from_the_real_commands() -> None:
    seen = _probe("--help")
    text = str(seen["help"])
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__.replace("_", "-") if command.callback else "")
        assert name in text, name
    assert "Usage:" in text and "--version" in text
