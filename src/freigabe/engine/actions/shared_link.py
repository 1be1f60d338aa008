"""shared.link: .env and storage/ from shared/, linked into the release (the first deploy seeds shared/)."""

from __future__ import annotations

import posixpath

from freigabe.core.plan import Step
from freigabe.core.steps import SharedLink
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import GateFailed


def run(ctx: RunContext, step: Step, args: SharedLink) -> Outcome:
    t, release_dir, shared = ctx.t, args.release_dir, args.shared_dir
    t.mkdir(shared)
    linked = []
    for rel in args.dirs:
        target, inside = f"{shared}/{rel}", f"{release_dir}/{rel}"
        if not t.exists(target):
            if t.is_dir(inside):
                t.mkdir(posixpath.dirname(target))
                t.rename(inside, target)  # the first deploy seeds shared/ from the bundle
            else:
                t.mkdir(target)
        t.remove_tree(inside)
        t.mkdir(posixpath.dirname(inside))
        t.symlink(target, inside)
        linked.append(rel)
    for rel in args.create_dirs:
        t.mkdir(f"{shared}/{rel}")
    for rel in args.files:
        target, inside = f"{shared}/{rel}", f"{release_dir}/{rel}"
        if not t.exists(target):
            raise GateFailed(
                f"shared file {rel} is missing at {target}; create it there (it is never shipped in a bundle)"
            )
        t.remove_tree(inside)
        t.mkdir(posixpath.dirname(inside))
        t.symlink(target, inside)
        linked.append(rel)
    return Outcome(True, f"linked {', '.join(linked) or 'nothing'}", {"linked": linked})
