"""release.extract: the unpacked release made visible, once it is what was checked.

bundle.upload unpacked the bundle into a hidden partial folder as it arrived and bundle.verify
matched its SHA-256; here the member names tar reported on the target must be exactly the ones
checked locally (paths, no absolute or `..` members, links inside, no special mode bits), and
only then is the folder renamed into releases/ with its REVISION, manifest and checksums.

tar often runs as root on targets: it takes neither the archive's owner nor its mode bits
(umask 022 clears group/other write; setuid, setgid and sticky bits were refused by the scan).
"""

from __future__ import annotations

import hashlib
import json
import posixpath

from freigabe import failpoints
from freigabe.adapters.transport.receive import member_digest
from freigabe.core.plan import Step
from freigabe.core.steps import ReleaseExtract
from freigabe.core.words import plural
from freigabe.engine.actions.bundle_upload import discard
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import BundleError


def run(ctx: RunContext, step: Step, args: ReleaseExtract) -> Outcome:
    t, scan, received = ctx.t, ctx.scan, ctx.received
    release_dir, partial = args.release_dir, args.partial_dir
    if scan is None or received is None or ctx.unpacked != partial:
        raise BundleError("the bundle was not checked and received before this step; this is a bug")
    expected = member_digest([e.path for e in scan.files] + scan.dirs + list(scan.links))
    if received.members_digest != expected:
        discard(ctx, args.bundle, partial)
        raise BundleError(
            "the members tar wrote on the target are not the ones checked locally (member list "
            f"SHA-256 {received.members_digest[:12] or 'none'}… instead of {expected[:12]}…); the "
            "unpacked copy was removed — check the target's tar and deploy again"
        )
    failpoints.hit("extract.unpacked")
    # nothing below is made if the release is there already (checked on the target, no round trip of its own)
    t.expect_missing(release_dir, f"{release_dir} already exists; make a new plan for a new release")
    revision = posixpath.join(partial, args.revision_file)
    t.mkdir(posixpath.dirname(revision))
    t.write(revision, (args.release + "\n").encode())
    if args.preflight:
        t.rename(partial, release_dir)
        return Outcome(True, f"{plural(len(scan.files), 'file')} in a temporary copy", {"files": len(scan.files)})
    t.mkdir(ctx.layout.manifests)
    manifest = {"release": args.release, "files": scan.manifest()}
    t.write(args.manifest, json.dumps(manifest, separators=(",", ":")).encode())  # C encoder: 3x faster than indent
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
