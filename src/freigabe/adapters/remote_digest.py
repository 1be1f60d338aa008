"""SHA-256 of one value from a `.env` file, parsed and hashed *on the target*.

POSIX sh + awk + sha256sum only (no Python there). The value never leaves the target
and is never printed: only its digest comes back. The parsing matches
`freigabe.adapters.dotenv` (and Laravel): `export`, single and double quotes, escapes
in double quotes, ` #` comments after unquoted values, first definition wins.
"""

from __future__ import annotations

from freigabe.adapters.transport import Transport

AWK = r"""
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
have { next }
{
  line = $0
  sub(/^[ \t]*export[ \t]+/, "", line); sub(/^[ \t]+/, "", line)
  if (index(line, key) != 1) next
  rest = substr(line, length(key) + 1)
  if (rest !~ /^[ \t]*=/) next
  sub(/^[ \t]*=[ \t]*/, "", rest); sub(/[\r]+$/, "", rest)
  val = rest
  if (substr(val, 1, 1) == "\"") {
    out = ""; i = 2
    while (i <= length(val)) {
      c = substr(val, i, 1)
      if (c == "\\" && i < length(val)) {
        n = substr(val, i + 1, 1)
        if (n == "n") out = out "\n"; else if (n == "t") out = out "\t";
        else if (n == "\"" || n == "\\") out = out n; else out = out "\\" n
        i += 2; continue
      }
      if (c == "\"") break
      out = out c; i++
    }
    val = out
  } else if (substr(val, 1, 1) == "'") {
    val = substr(val, 2); j = index(val, "'"); if (j > 0) val = substr(val, 1, j - 1)
  } else {
    j = match(val, /[ \t]+#/); if (j > 0) val = substr(val, 1, j - 1)
    val = trim(val)
  }
  found = val; have = 1
}
END { if (!have) exit 3; printf "%s", found }
"""

SCRIPT = 'v=$(awk -v key="$2" "$3" "$1") || exit $?; printf "%s" "$v" | sha256sum | cut -d" " -f1'


def remote_value_digest(transport: Transport, env_file: str, key: str) -> tuple[str | None, str]:
    """(digest or None, explanation). Missing file → None; key absent → None."""
    if not transport.exists(env_file):
        return None, f"{env_file} does not exist on the target"
    result = transport.run(["sh", "-c", SCRIPT, "sh", env_file, key, AWK], timeout=30)
    if result.returncode == 3:
        return None, f"{key} is not set in {env_file}"
    if not result.ok:
        return None, f"could not read {env_file} on the target (exit {result.returncode})"
    digest = result.output.strip().splitlines()[-1] if result.output.strip() else ""
    if len(digest) != 64:
        return None, "the target's sha256sum gave no digest"
    return digest, "computed on the target"
