"""cleanup: releases past retention (never current, the previous good one or a protected one), old
bundles, and what crashed runs left behind (partial releases, temporary links and files)."""

from __future__ import annotations

import posixpath

from freigabe.core.plan import Step
from freigabe.core.releases import is_leftover, select_for_removal
from freigabe.core.steps import Cleanup
from freigabe.core.words import plural
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome


def remove_release(ctx: RunContext, name: str) -> None:
    layout = ctx.layout
    ctx.t.remove_tree(layout.release(name))
    for path in (layout.manifest(name), layout.sums(name), layout.mark(name)):
        ctx.t.remove(path)


def _folders(ctx: RunContext) -> tuple[str, ...]:
    layout = ctx.layout
    return (layout.deploy_path, layout.releases, layout.state, layout.bundles, layout.manifests, layout.marks)


def leftovers(ctx: RunContext, listed: dict[str, list[str]]) -> list[str]:
    """Paths no live run owns: this run holds the lock, so only its own partial release is in use."""
    owned = {posixpath.basename(ctx.layout.partial(ctx.plan.release))}
    preflight = f"{ctx.layout.state}/preflight"
    found = [f"{folder}/{n}" for folder in _folders(ctx) for n in listed[folder] if is_leftover(n, owned)]
    return found + [f"{preflight}/{n}" for n in listed[preflight]]


def run(ctx: RunContext, step: Step, args: Cleanup) -> Outcome:
    t, layout = ctx.t, ctx.layout
    listed = t.listdirs([*_folders(ctx), f"{layout.state}/preflight"])  # everything below, in one look
    releases = [n for n in listed[layout.releases] if not n.startswith(".")]
    if args.remove:
        doomed = [r for r in args.remove if r in releases and r != ctx.current()]
    else:
        protected = {ctx.current(), ctx.plan.previous_release, ctx.plan.release, *args.protect}
        doomed = select_for_removal(releases, keep=args.keep, protected=protected)
    for name in doomed:
        remove_release(ctx, name)
    keep_bundle = posixpath.basename(ctx.plan.bundle.name) if ctx.plan.bundle else ""
    old_bundles = [n for n in listed[layout.bundles] if n != keep_bundle and not is_leftover(n, set())]
    for name in old_bundles:
        t.remove(f"{layout.bundles}/{name}")
    stray = leftovers(ctx, listed) if args.leftovers else []
    for path in stray:
        t.remove_tree(path)
    summary = f"removed {plural(len(doomed), 'old release')}"
    if stray:
        summary += f" and {plural(len(stray), 'leftover')} of crashed runs"
    return Outcome(True, summary, {"removed": doomed, "leftovers": stray, "bundles": old_bundles})
