"""A run's logs zip, as GitHub serves it: `N_<job>.txt` (the whole job) and `<job>/N_<step>.txt`.

Pure: bytes in, lines out. Each line's leading timestamp is dropped; step files are preferred
(they name the step), the whole-job file is used for a job without step files.
"""

from __future__ import annotations

import io
import re
import zipfile

_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_JOB_FILE = re.compile(r"^\d+_(.+)\.txt$")


def log_lines(data: bytes) -> dict[str, list[str]]:
    """`job/N_step.txt` (or `N_job.txt`) → the lines, without timestamps."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ValueError("the logs are not a zip file") from None
    steps: dict[str, list[str]] = {}
    jobs: dict[str, list[str]] = {}
    with archive:
        for name in archive.namelist():
            if name.endswith("/"):
                continue
            text = archive.read(name).decode("utf-8", "replace")
            lines = [_STAMP.sub("", line) for line in text.splitlines()]
            if "/" in name:
                steps[name] = lines
            elif match := _JOB_FILE.match(name):
                jobs[match.group(1)] = lines
    covered = {name.split("/", 1)[0] for name in steps}
    return {**steps, **{f"{job}.txt": lines for job, lines in jobs.items() if job not in covered}}
