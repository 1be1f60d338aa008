"""release.extract: the verified bundle unpacked into a hidden partial folder, then renamed into releases/.

tar often runs as root on targets: it takes neither the archive's owner nor its mode bits
(umask 022 clears group/other write; setuid, setgid and sticky bits were refused by the scan).
"""

from __future__ import annotations

import hashlib
import json
import posixpath

from freigabe import failpoints
from freigabe.core.plan import Step
from freigabe.core.steps import ReleaseExtract
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError, StepFailed, TargetError

EXTRACT = ["sh", "-c", 'umask 022 && exec tar -xzf "$1" -C "$2" --no-same-owner --no-same-permissions', "sh"]


def run(ctx: RunContext, step: Step, args: ReleaseExtract) -> Outcome:
    t, scan = ctx.t, ctx.scan
    release_dir, partial = args.release_dir, args.partial_dir
    if t.exists(release_dir):
        raise StepFailed(f"{release_dir} already exists; make a new plan for a new release")
    if scan is None:
        raise BundleError("the bundle was not checked before extraction; this is a bug")
    t.remove_tree(partial)
    t.mkdir(partial)
    result = t.run([*EXTRACT, args.bundle, partial], timeout=3600)
    ctx.log(step).write_text(ctx.redactor.text(result.output), encoding="utf-8")
    if not result.ok:
        t.remove_tree(partial)
        if "No space left on device" in result.output:
            raise TargetError(
                f"disk full on the target while extracting into {partial}; free space there "
                "and deploy again (the partial release was removed)"
            )
        raise StepFailed(f"extraction failed (tar exit {result.returncode}: {result.tail(1)})")
    failpoints.hit("extract.unpacked")
    revision = posixpath.join(partial, args.revision_file)
    t.mkdir(posixpath.dirname(revision))
    t.write(revision, (args.release + "\n").encode())
    if args.preflight:
        t.rename(partial, release_dir)
        return Outcome(True, f"{plural(len(scan.files), 'file')} in a temporary copy", {"files": len(scan.files)})
    t.mkdir(ctx.layout.manifests)
    manifest = {"release": args.release, "files": scan.manifest()}
    t.write(args.manifest, json.dumps(manifest, indent=0).encode())
    shared = tuple(args.shared)
    lines = [
        f"{e.sha256}  ./{e.path}\n"
        for e in scan.files
        if not any(e.path == p or e.path.startswith(p + "/") for p in shared)
    ]
    revision_digest = hashlib.sha256((args.release + "\n").encode()).hexdigest()
    lines.append(f"{revision_digest}  ./{args.revision_file}\n")
    t.write(ctx.layout.sums(args.release), "".join(sorted(set(lines))).encode())
    failpoints.hit("extract.before-rename")
    t.rename(partial, release_dir)
    return Outcome(
        True,
        f"{plural(len(scan.files), 'file')}, {scan.total_size // 1024} KiB",
        {"files": len(scan.files), "bytes": scan.total_size, "manifest": args.manifest},
    )
