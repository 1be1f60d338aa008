"""backup.create: app files, a database dump and config files with SHA256SUMS, before migrations."""

from __future__ import annotations

import posixpath

from freigabe.core.plan import Step
from freigabe.core.steps import BackupCreate
from freigabe.engine.context import RunContext
from freigabe.engine.outcome import Outcome
from freigabe.errors import StepFailed


def run(ctx: RunContext, step: Step, args: BackupCreate) -> Outcome:
    t, folder = ctx.t, args.dir
    t.mkdir(folder)
    log = ctx.log(step)
    archive = f"{folder}/app.tar.gz"
    argv = [
        "tar",
        "-czf",
        archive,
        "--ignore-failed-read",
        "--warning=no-file-changed",
        *(f"--exclude={pattern}" for pattern in args.exclude),
        "-C",
        args.root,
        ".",
    ]
    result = t.run(argv, timeout=args.timeout)
    log.write_text(ctx.redactor.text(result.output), encoding="utf-8")
    if result.returncode not in (0, 1):  # tar: 1 = some files changed while read
        raise StepFailed(f"app archive failed (tar exit {result.returncode}: {result.tail(1)})")
    files = ["app.tar.gz"]
    if args.db_dump:
        dump = f"{folder}/db.sql"
        dumped = t.run(args.db_dump, timeout=args.timeout, stdout_path=dump)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(ctx.redactor.text(dumped.output))
        if not dumped.ok:
            raise StepFailed(
                f"database dump `{args.db_dump[0]}` failed (exit {dumped.returncode}: "
                f"{ctx.redactor.text(dumped.tail(1))})"
            )
        files.append("db.sql")
    if args.files:
        kept = [path.lstrip("/") for path in args.files]
        config = t.run(["tar", "-czf", f"{folder}/config.tar.gz", "-C", "/", "--", *kept], timeout=args.timeout)
        if not config.ok:
            raise StepFailed(f"config archive failed (tar exit {config.returncode}: {config.tail(1)})")
        files.append("config.tar.gz")
    sums = {name: t.sha256(f"{folder}/{name}") for name in files}
    t.write(f"{folder}/SHA256SUMS", "".join(f"{d}  {n}\n" for n, d in sums.items()).encode())
    parent = posixpath.dirname(folder)
    stamps = sorted((n for n in t.listdir(parent) if n[:8].isdigit()), reverse=True)
    removed = stamps[args.keep :]
    for name in removed:
        t.remove_tree(f"{parent}/{name}")
    return Outcome(True, f"{folder} ({', '.join(files)})", {"dir": folder, "sha256": sums, "pruned": removed})
