"""PHP-FPM on a target, found through the transport, read-only: which service runs, and the
configuration files it uses (for the server audit's reload check, `freigabe.audit.fpm`).

Debian and Ubuntu name the service after the PHP version (`php8.2-fpm`, `php8.3-fpm`), so a
name written into a preset is wrong on most servers. The plan names the service it found.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from freigabe.adapters.transport import Transport
from freigabe.audit.fpm import FpmConfig, includes
from freigabe.core.redact import Redactor
from freigabe.errors import ConnectionLost, TargetError

SEARCH = ("/etc/init.d", "/lib/systemd/system", "/usr/lib/systemd/system", "/etc/systemd/system")
_SERVICE = re.compile(r"(php\d+(?:\.\d+)?-fpm)(?:\.service)?")


def detect_fpm_service(
    t: Transport, search: tuple[str, ...] | None = None, run_dir: str = "/run/php"
) -> tuple[str | None, str]:
    """(service name or None, how it was decided)."""
    search = search or SEARCH
    names = sorted({m.group(1) for folder in search for n in t.listdir(folder) if (m := _SERVICE.fullmatch(n))})
    if not names:
        return None, f"no php*-fpm service under {', '.join(search)}"
    if len(names) == 1:
        return names[0], f"the only PHP-FPM service on the target ({names[0]})"
    running = [n for n in names if t.exists(f"{run_dir}/{n}.pid")]
    if len(running) == 1:
        return running[0], f"{running[0]} is the one running (of {', '.join(names)})"
    version = t.run(["php", "-r", 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;'], timeout=20)
    guess = f"php{version.output.strip()}-fpm" if version.ok else ""
    if guess in names:
        return guess, f"{guess} matches the CLI's PHP version (of {', '.join(names)})"
    return None, f"several PHP-FPM services ({', '.join(names)}) and none is clearly the one"


_MASTER = re.compile(r"php-fpm(?:\d+(?:\.\d+)?)?: master process \((/[^)]+)\)")


def running_configs(t: Transport) -> list[str]:
    """The configuration file of every PHP-FPM master on the target (its process title names it)."""
    result = t.run(["ps", "-ww", "-eo", "args"], timeout=20)
    if not result.ok:
        return []
    return sorted({m.group(1) for line in result.output.splitlines() if (m := _MASTER.search(line))})


def _text(t: Transport, path: str) -> str | None:
    try:
        data = t.read_optional(path)
    except ConnectionLost:
        raise
    except TargetError:
        return None  # unreadable for the deploy user
    return None if data is None else data.decode("utf-8", "replace")


def read_config(t: Transport, main: str, redactor: Redactor) -> FpmConfig:
    """The main file and what its `include` lines pull in (globs expanded on the target), redacted:
    a pool's `env[...]` lines may hold credentials."""
    first = _text(t, main)
    if first is None:
        return FpmConfig(main=main, files=(), unreadable=(main,))
    files, unreadable = [(main, redactor.text(first))], []
    for pattern in includes(first):
        if not pattern.startswith("/"):
            unreadable.append(f"{pattern} (relative to PHP-FPM's prefix)")
            continue
        folder, name = posixpath.split(pattern)
        names = sorted(n for n in t.listdir(folder) if fnmatch.fnmatchcase(n, name)) if glob_magic(name) else [name]
        for n in names:
            text = _text(t, posixpath.join(folder, n))
            if text is None:
                unreadable.append(posixpath.join(folder, n))
            else:
                files.append((posixpath.join(folder, n), redactor.text(text)))
    return FpmConfig(main=main, files=tuple(files), unreadable=tuple(unreadable))


def glob_magic(name: str) -> bool:
    return any(c in name for c in "*?[")


def fpm_configs(t: Transport, configured: list[str], redactor: Redactor) -> list[FpmConfig]:
    """The PHP-FPM configurations to judge: the listed files, else those of the running masters."""
    return [read_config(t, main, redactor) for main in (configured or running_configs(t))]


def reloads_fpm(reloads: list[list[str]]) -> bool:
    """A reload command that reloads PHP-FPM (a service name, a binary or a pid file with 'fpm' in it)."""
    return any("fpm" in word.lower() for argv in reloads for word in argv)
