"""Receiving a bundle: one stream, hashed, kept and unpacked at once; nothing visible until checked.

The bundle's bytes pass once through `tee` into three places: `sha256sum` (through a fifo), the
bundle file under a temporary name, and GNU `tar`, which unpacks into the release's hidden
partial folder and names every member it wrote. Nothing here is visible to anyone: the bundle
keeps its temporary name and the release its hidden folder until the caller has compared the
target's own SHA-256 with the approved one and the member names tar reported with the ones
checked locally; only then are they renamed into place (see README, "What the target checks").

GNU tar never writes outside the folder it extracts into (it strips a leading `/`, skips
members with `..`, and creates symlinks only after the members that could pass through them),
and the mode and owner of extracted files are the target's (`--no-same-owner
--no-same-permissions`, umask 022), so unpacking bytes not yet verified cannot reach anything
but the hidden folder, which is removed if the checks fail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PART = ".part-new"  # the bundle's name + this until bundle.verify renames it (a leftover if a run dies)

# $1 bundle path (kept as $1.part-new until verified), $2 the hidden partial folder
SCRIPT = r"""
b=$1 p=$2
v=$(tar --version 2>/dev/null | head -n 1)
case $v in
  *"GNU tar"*) ;;
  *) cat >/dev/null; echo "error freigabe needs GNU tar on the target (found: ${v:-no tar})"; exit 3 ;;
esac
umask 022
rm -rf -- "$p" "$p.fifo" "$p.sum" "$p.tee" "$p.said" "$p.members" "$p.err" "$b.part-new" || exit 3
mkdir -p -- "$p" "$(dirname -- "$b")" || { cat >/dev/null; exit 3; }
mkfifo -- "$p.fifo" || { cat >/dev/null; exit 3; }
sha256sum < "$p.fifo" > "$p.sum" &
s=$!
{ tee -- "$p.fifo" "$b.part-new" 2> "$p.said"; echo "$?" > "$p.tee"; } |
  LC_ALL=C tar -xzvf - -C "$p" --no-same-owner --no-same-permissions > "$p.members" 2> "$p.err"
t=$?
wait "$s"
echo "sha256 $(cut -d ' ' -f 1 < "$p.sum")"
echo "tar $t $(tr '\n' ' ' < "$p.err" 2>/dev/null | cut -c 1-300)"
echo "tee $(cat "$p.tee" 2>/dev/null || echo '?') $(tr '\n' ' ' < "$p.said" 2>/dev/null | cut -c 1-300)"
d=$(sed -e 's|^\(\./\)*||' -e 's|/$||' -e '/^$/d' < "$p.members" | LC_ALL=C sort | sha256sum | cut -d ' ' -f 1)
echo "members $(wc -l < "$p.members" | tr -d ' ') $d"
rm -f -- "$p.fifo" "$p.sum" "$p.tee" "$p.said" "$p.members" "$p.err"
"""


@dataclass(frozen=True)
class Received:
    sha256: str  # the target's own digest of the bytes it received
    members_digest: str  # of the member names tar wrote (see member_digest)
    problem: str  # empty when tar and tee succeeded, else what failed, in their words

    @classmethod
    def parse(cls, output: str, exit_status: int) -> Received:
        fields: dict[str, str] = {}
        for line in output.splitlines():
            key, _, rest = line.partition(" ")
            if key in ("sha256", "tar", "tee", "members", "error"):
                fields[key] = rest.strip()
        if "error" in fields:
            return cls("", "", fields["error"])
        tar_status, _, tar_said = fields.get("tar", "?").partition(" ")
        tee_status, _, tee_said = fields.get("tee", "?").partition(" ")
        problem = ""
        if tee_status != "0":
            problem = f"writing the bundle failed: {tee_said or 'tee exit ' + (tee_status or '?')}"
        elif tar_status != "0":
            problem = f"tar exit {tar_status}: {tar_said or 'no message'}"
        elif exit_status != 0 or "sha256" not in fields:
            problem = f"receiving ended with exit {exit_status}: {output.strip()[-300:] or 'no output'}"
        digest = fields.get("members", "").partition(" ")[2]
        return cls(fields.get("sha256", ""), digest, problem)


def _escaped(name: str) -> str:
    """A member name as GNU tar prints it with LC_ALL=C (backslash doubled, bytes beyond ASCII in
    octal; names with control characters never get here: the bundle scan refuses them)."""
    if name.isascii() and name.isprintable() and "\\" not in name:
        return name  # most names: printed as they are (the digest of 20k names: 7 ms, not 0.2 s)
    out = []
    for byte in name.encode("utf-8", "surrogateescape"):
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def member_digest(names: list[str]) -> str:
    """The digest the receiving script computes, from the member names checked locally
    (normalized: no leading `./`, no trailing `/`, the root left out)."""
    listing = "".join(line + "\n" for line in sorted(_escaped(n) for n in names if n))
    return hashlib.sha256(listing.encode("ascii")).hexdigest()
