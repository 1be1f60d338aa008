"""Retention on demand: remove releases past `keep_releases`, under the deploy lock."""

from __future__ import annotations

from freigabe.config import LoadedConfig
from freigabe.core.redact import Redactor
from freigabe.core.releases import previous_good, select_for_removal
from freigabe.usecases import lock
from freigabe.usecases.apply import new_run_id
from freigabe.usecases.records import Recorder, actor
from freigabe.usecases.status import list_releases, read_marks
from freigabe.usecases.targets import open_target


def cleanup(loaded: LoadedConfig, env_name: str, dry_run: bool = False) -> list[str]:
    target = open_target(loaded, env_name)
    run = new_run_id()
    try:
        held = lock.acquire(target.transport, target.layout, env_name, run, None, target.env.lock_stale_after)
        try:
            releases = list_releases(target)
            current = target.current()
            marks = {k: v.get("mark", "") for k, v in read_marks(target).items()}
            protected = {current, previous_good(releases, marks, current)}
            doomed = select_for_removal(releases, keep=target.env.keep_releases, protected=protected)
            if dry_run or not doomed:
                return doomed
            for name in doomed:
                target.transport.remove_tree(target.layout.release(name))
                target.transport.remove(target.layout.manifest(name))
                target.transport.remove(target.layout.sums(name))
                target.transport.remove(target.layout.mark(name))
            Recorder(target.transport, target.layout, loaded.root, env_name, run, Redactor()).record(
                "cleanup", removed=doomed, kept=sorted(set(releases) - set(doomed)), by=actor()
            )
            return doomed
        finally:
            lock.release(target.transport, target.layout, held)
    finally:
        target.close()
