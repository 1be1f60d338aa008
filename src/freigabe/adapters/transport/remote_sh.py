"""How a command runs on an SSH target: a small POSIX sh wrapper around its argv.

* Whatever the login shell prints before the command starts (a `.bashrc` that echoes, a
  warning) comes before a marker line and is dropped: results are read after the marker only.
* The command runs in a session of its own (`setsid`, where the target has it) and its process
  group id is written to a file under the run's `.freigabe/running/`, so a run that ends, is
  interrupted, or is killed leaves nothing running: stragglers of a finished command are ended at
  once, and what a killed run left is ended by the next run before it starts.
* stdout and stderr arrive interleaved, as a person would have seen them; with `stdout_path`,
  stdout goes to that file and stderr is streamed.
* The transport keeps one exec channel open ahead of need (`SPARE`): the command line reaches it
  as its first stdin line, so running a command costs no channel-open round trip.

File operations do not come here: they go to the run's long-lived shell (`remote_shell.py`).
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Sequence

MARKER = "\x1eFREIGABE-BEGIN\x1e"

WRAPPER = r"""
f=$1 d=$2 o=$3; shift 3
printf '%s\n' "$FREIGABE_MARKER"
if [ -n "$d" ]; then cd "$d" || exit 126; fi
command -v "$1" >/dev/null 2>&1 || { echo "$1: command not found"; exit 127; }
if command -v setsid >/dev/null 2>&1; then set -- setsid "$@"; fi
if [ -n "$o" ]; then "$@" 2>&1 >"$o" </dev/null & else "$@" </dev/null 2>&1 & fi
p=$!
if [ -n "$f" ]; then { echo "$p" >"$f"; } 2>/dev/null; fi
wait "$p"; r=$?
trap '' TERM
kill -TERM -"$p" 2>/dev/null
if [ -n "$f" ]; then rm -f "$f"; fi
exit "$r"
"""


def command_line(
    argv: Sequence[str], *, cwd: str | None, stdout_path: str | None, pgid_file: str | None, env: dict[str, str] | None
) -> str:
    """The one string sent to sshd: exec a plain POSIX sh (no rc files) running the wrapper."""
    args = list(argv)
    if env:
        args = ["env", *(f"{k}={v}" for k, v in env.items()), *args]
    parts = ["exec", "env", f"FREIGABE_MARKER={MARKER}", "/bin/sh", "-c", WRAPPER, "freigabe"]
    parts += [pgid_file or "", cwd or "", stdout_path or "", *args]
    return shlex.join(parts)


# A channel opened ahead of its command: it reads one line (the command, base64) and runs it; the
# rest of its stdin is the command's. `read` takes the line byte by byte, never more.
SPARE = 'exec /bin/sh -c \'IFS= read -r c && eval "$(printf %s "$c" | base64 -d)"\''


def spare_line(command: str) -> bytes:
    return base64.b64encode(command.encode()) + b"\n"


def script_line(script: str, *args: str) -> str:
    """A short sh script of freigabe's own, run the same way: the marker first, then its output."""
    body = 'printf "%s\\n" "$FREIGABE_MARKER"\n' + script
    return shlex.join(["exec", "env", f"FREIGABE_MARKER={MARKER}", "/bin/sh", "-c", body, "freigabe", *args])


KILL_GROUP = (
    'p=$(cat "$1" 2>/dev/null) || exit 0; kill -TERM -"$p" 2>/dev/null; sleep 1; kill -KILL -"$p" 2>/dev/null; '
    'rm -f "$1"'
)
