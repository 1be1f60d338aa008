"""Which line of a failed command's output says what failed. Pure.

The last lines of a failure are often a stack trace (`#2 {main}`, `thrown in …`,
`File "…", line 3`); the sentence a person needs ("PDOException: could not find driver",
"ValueError: bad config", "SQLSTATE[HY000] [2002] Connection refused") is elsewhere.
"""

from __future__ import annotations

import re

_FRAME = re.compile(
    r"""^\s*(?:
        \#\d+\s                         # PHP frames: #0 /path(12): fn()
      | Stack\ trace:
      | thrown\ in\s
      | at\s\S+\(.*\)$                  # Java/JS frames
      | at\s\S+:\d+                     # JS frames: at file.js:1:2
      | File\ ".*",\ line\ \d+          # Python frames
      | Traceback\ \(most\ recent\ call\ last\):
      | \.\.\.\ \d+\ more
      | \^+\s*$                          # Python 3.11 carets
      | ~+\^*~*\s*$
    )""",
    re.VERBOSE,
)
_SAYS_WHAT = re.compile(
    r"error|exception|fatal|failed|failure|denied|refused|not found|no such|cannot|can't|could not|unable|"
    r"invalid|missing|timed out|timeout|SQLSTATE",
    re.IGNORECASE,
)


def headline(output: str) -> str:
    """The line that says what failed, or the last line when none does."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    python = any(line.startswith("Traceback (most recent call last)") for line in lines)
    candidates = [
        line
        for line in lines
        if not _FRAME.match(line) and not (python and line[:1].isspace())  # code lines of a Python trace
    ]
    # A bare exception class name ("Illuminate\Database\QueryException") heads its message.
    saying = [line for line in candidates if _SAYS_WHAT.search(line) and len(line.split()) > 1]
    saying = saying or [line for line in candidates if _SAYS_WHAT.search(line)]
    if saying:
        # A Python trace ends with its message; elsewhere the first such line is the cause.
        return (saying[-1] if python else saying[0]).strip()
    return (candidates or lines)[-1].strip()
