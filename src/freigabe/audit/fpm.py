"""PHP-FPM's `process_control_timeout`: whether a reload lets running requests finish. Pure.

A graceful reload (`service php8.x-fpm reload`, SIGUSR2 to the master) asks every worker to
end. With the default `process_control_timeout = 0` the master does not wait for workers
busy with a request: they are ended mid-request and nginx answers 502 (measured: 15 of
242,540 requests during reloads failed with 0, none of 1.4 million with `10s`; see
`bench/switch_under_load.py`). freigabe reloads PHP-FPM after every switch, so the server
audit reads the setting from the configuration files the target's PHP-FPM uses.

The files arrive as text (gathered by `adapters.server_facts`, main file first, then what
its `include` lines pulled in). This module reads them as PHP-FPM does: `[section]`
headers, `key = value`, `;` comments; `process_control_timeout` is a `[global]` setting and
the last assignment wins. Values take PHP-FPM's units (s, m, h, d; none = seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from freigabe.core.findings import Finding, finding

SETTING = "process_control_timeout"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class FpmConfig:
    """One PHP-FPM configuration as read from the target: its files, in the order PHP-FPM reads them."""

    main: str  # the file PHP-FPM was started with (`-y`, or the distribution's default)
    files: tuple[tuple[str, str], ...]  # (path, text), main first
    unreadable: tuple[str, ...] = ()  # paths named (main or include) that could not be read


@dataclass(frozen=True)
class Setting:
    value: str
    seconds: float | None  # None: not a duration PHP-FPM accepts
    location: str  # path:line
    excerpt: str  # the line as written


def assignments(text: str) -> list[tuple[int, str, str, str]]:
    """(line, section, key, value) for every `key = value` of an FPM ini file."""
    out: list[tuple[int, str, str, str]] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if value.startswith(('"', "'")) and value[0] in value[1:]:
            value = value[1 : value.index(value[0], 1)]
        else:
            value = value.split(";", 1)[0].strip()
        out.append((number, section, key, value))
    return out


def includes(text: str) -> list[str]:
    """The `include = …` patterns of an FPM ini file, in order."""
    return [value for _, _, key, value in assignments(text) if key == "include" and value]


def seconds(value: str) -> float | None:
    text = value.strip().lower()
    unit = 1
    if text and text[-1] in _UNITS:
        unit, text = _UNITS[text[-1]], text[:-1]
    try:
        number = float(text)
    except ValueError:
        return None
    return number * unit if number >= 0 else None


def timeout_of(config: FpmConfig) -> Setting | None:
    """The `[global]` process_control_timeout in effect; None: not set (PHP-FPM's default is 0)."""
    found: Setting | None = None
    for path, text in config.files:
        lines = text.splitlines()
        for line, section, key, value in assignments(text):
            if key == SETTING and section.lower() in ("global", ""):
                found = Setting(value, seconds(value), f"{path}:{line}", lines[line - 1].strip())
    return found


def check_reload_timeout(configs: list[FpmConfig], reloads_fpm: bool) -> list[Finding]:
    """One row per PHP-FPM configuration: P1 when a reload ends requests mid-way."""
    if not configs:
        return []
    rows = []
    for config in configs:
        setting = timeout_of(config)
        unread = f" ({', '.join(config.unreadable)} could not be read)" if config.unreadable else ""
        if setting is None and config.unreadable:
            rows.append(
                finding(
                    "server.fpm-reload",
                    "server",
                    "PHP-FPM reload lets requests finish",
                    subject=config.main,
                    soll=f"{SETTING} > 0 in [global]",
                    ist=f"not found in what could be read{unread}",
                    impact="P1",
                    ok=False,
                    status="warn",
                    location=config.main,
                    fix=f"let the deploy user read {', '.join(config.unreadable)}, or list the files in "
                    "[environments.<name>.server] php_fpm_config",
                )
            )
            continue
        wait = setting.seconds if setting else 0.0
        if setting is not None and wait is None:
            ist = f"{SETTING} = {setting.value}: not a duration PHP-FPM reads (10s, 1m)"
        elif setting is None:
            ist = f"{SETTING} is not set, so it is 0 (PHP-FPM's default)"
        else:
            ist = f"{SETTING} = {setting.value}"
        effect = (
            ": a reload ends workers in the middle of a request (502 for the client)"
            if reloads_fpm
            else " (no reload command of this environment reloads PHP-FPM)"
        )
        bad = not wait
        rows.append(
            finding(
                "server.fpm-reload",
                "server",
                "PHP-FPM reload lets requests finish",
                subject=config.main,
                soll=f"{SETTING} > 0 in [global], so a reload waits for running requests (10s is common)",
                ist=(ist + effect if bad else ist) + unread,
                impact="P1" if reloads_fpm else "P2",
                ok=not bad,
                location=setting.location if setting else config.main,
                evidence={"excerpt": setting.excerpt} if setting else {"files read": [p for p, _ in config.files]},
                fix=f"set `{SETTING} = 10s` in the [global] section of {config.main} and restart PHP-FPM once",
            )
        )
    return rows
