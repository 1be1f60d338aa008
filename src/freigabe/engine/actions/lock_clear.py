"""lock.clear: the lock a crashed run left, never one whose owner is alive (`freigabe unlock`)."""

from __future__ import annotations

from freigabe.core.plan import Step
from freigabe.core.steps import LockClear
from freigabe.engine import lock
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import LockHeld


def run(ctx: RunContext, step: Step, args: LockClear) -> Outcome:
    held = lock.read_lock(ctx.t, ctx.layout)
    if held is None:
        return Outcome(True, "the lock is already free")
    if held.run != args.run:
        raise LockHeld(f"the lock now belongs to run {held.run}, not {args.run}; it is not cleared")
    state = lock.liveness(held, lock.read_heartbeat(ctx.t, ctx.layout))
    if args.require_dead and state.alive:
        raise LockHeld(f"the lock is {lock.describe(held)} and its owner is alive ({state.why}); it is not cleared")
    ctx.t.remove(lock.heartbeat_path(ctx.layout))
    ctx.t.unlock(ctx.layout.lock)
    return Outcome(True, f"cleared the lock of run {held.run} ({state.why})", {"lock": held.to_json()})
