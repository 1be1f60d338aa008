"""Which PHP-FPM service runs on a target: found through the transport, read-only.

Debian and Ubuntu name the service after the PHP version (`php8.2-fpm`, `php8.3-fpm`), so a
name written into a preset is wrong on most servers. The plan names the service it found.
"""

from __future__ import annotations

import re

from freigabe.adapters.transport import Transport

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
