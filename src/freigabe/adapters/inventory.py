"""The hosts of an environment: one target, a target list, a `[hosts]` table, or an Ansible inventory.

An Ansible inventory (YAML or INI, `inventory = "ansible:inventory.yml"`) is read by Ansible itself:
`ansible-inventory -i FILE --list` (ansible-core, `pip install 'freigabe[ansible]'`; nothing is run on
any host). That is the parser Ansible users already trust, with its ranges, group variables and
precedence, so freigabe never guesses at the format. The environment's group (`inventory_group`,
default the environment's name) names the hosts; these host variables are honoured:

| variable | meaning |
|---|---|
| `ansible_host`, `ansible_port`, `ansible_user` | the SSH address, port and user |
| `ansible_ssh_private_key_file` (or `ansible_private_key_file`) | the key |
| `ansible_ssh_common_args` / `ansible_ssh_extra_args` with `-J HOST` or `-o ProxyJump=HOST` | the jump host |
| `freigabe_jump` | the jump host, as `ssh://user@bastion:22` |
| `freigabe_roles` | roles (a list, or `"web,migrate"`); otherwise the groups below the environment's group |
| `freigabe_url` | where the host answers HTTP itself; otherwise `host_url` |

A group below the environment's group named `web`, `worker` or `migrate`, or `<group>_<role>`
(`production_web`, `production_cron`), gives its hosts that role.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from freigabe.config import LoadedConfig
from freigabe.config.models import KNOWN_ROLES, ROLE_NAME, EnvironmentConfig, SshConfig
from freigabe.core.fleet import Host
from freigabe.errors import ConfigError, UsageError

_CACHE: dict[tuple[str, float, int], dict[str, Any]] = {}


def ansible_inventory() -> str | None:
    """`ansible-inventory` beside this Python (a venv with freigabe[ansible]), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.is_file() else shutil.which("ansible-inventory")


def read_ansible(path: Path) -> dict[str, Any]:
    """`ansible-inventory --list` of one file: groups with hosts and children, and every host's variables."""
    if not path.is_file():
        raise ConfigError(f"the inventory {path} does not exist; fix `inventory` in freigabe.toml")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key in _CACHE:
        return _CACHE[key]
    tool = ansible_inventory()
    if tool is None:
        raise ConfigError(
            f"reading the Ansible inventory {path} needs ansible-inventory (ansible-core): "
            "pip install 'freigabe[ansible]', or list the hosts in freigabe.toml under [environments.ENV.hosts]"
        )
    result = subprocess.run(
        [tool, "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_NOCOLOR": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"ansible-inventory could not read {path}: {said}; fix the inventory file")
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        raise ConfigError(
            f"ansible-inventory printed no JSON for {path}; check the file with ansible-inventory"
        ) from None
    _CACHE[key] = data
    return data


def _members(data: dict[str, Any], group: str, seen: set[str] | None = None) -> list[str]:
    """The hosts of a group and of its children, in inventory order."""
    seen = seen if seen is not None else set()
    if group in seen:
        return []
    seen.add(group)
    entry = data.get(group) or {}
    found = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        found += [h for h in _members(data, child, seen) if h not in found]
    return found


def _subgroups(data: dict[str, Any], group: str) -> list[str]:
    out: list[str] = []
    for child in (data.get(group) or {}).get("children", []):
        if child not in out:
            out += [child, *(g for g in _subgroups(data, child) if g not in out)]
    return out


def _roles(data: dict[str, Any], group: str, host: str, variables: dict[str, Any]) -> list[str]:
    given = variables.get("freigabe_roles")
    if given is not None:
        roles = [r.strip() for r in given.split(",")] if isinstance(given, str) else [str(r) for r in given]
    else:
        roles = []
        for sub in _subgroups(data, group):
            if host not in _members(data, sub):
                continue
            role = sub.removeprefix(f"{group}_")
            if role in KNOWN_ROLES or (sub.startswith(f"{group}_") and ROLE_NAME.fullmatch(role)):
                roles.append(role)
    bad = [r for r in roles if not ROLE_NAME.fullmatch(r)]
    if bad:
        raise ConfigError(
            f"host {host} in the inventory has the role {bad[0]!r}; roles are lower-case words like 'web'"
        )
    return list(dict.fromkeys(roles)) or ["web"]


def _jump(variables: dict[str, Any]) -> str | None:
    if variables.get("freigabe_jump"):
        return str(variables["freigabe_jump"])
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        words = shlex.split(str(variables.get(key) or ""))
        for index, word in enumerate(words):
            value = None
            if word == "-J" and index + 1 < len(words):
                value = words[index + 1]
            elif word.startswith("ProxyJump=") or (word == "-o" and index + 1 < len(words)):
                option = word if word.startswith("ProxyJump=") else words[index + 1]
                if option.startswith("ProxyJump="):
                    value = option.split("=", 1)[1]
            if value:
                return value if value.startswith("ssh://") else f"ssh://{value}"
    return None


def ssh_url(address: str, user: str | None, port: int | None) -> str:
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"ssh://{user + '@' if user else ''}{host}{f':{port}' if port else ''}"


def _host_url(env: EnvironmentConfig, name: str, address: str, given: str | None) -> str | None:
    if given:
        return given.rstrip("/")
    if env.host_url:
        return env.host_url.replace("{host}", address).replace("{name}", name).rstrip("/")
    return None


def _from_inventory(loaded: LoadedConfig, env_name: str, env: EnvironmentConfig) -> list[Host]:
    assert env.inventory is not None
    path = (loaded.root / env.inventory.split(":", 1)[1].strip()).resolve()
    data = read_ansible(path)
    group = env.inventory_group or env_name
    if group not in data:
        known = ", ".join(sorted(g for g in data if g not in ("_meta", "all", "ungrouped"))) or "none"
        raise ConfigError(
            f"the inventory {path} has no group {group!r} for environment {env_name} (groups: {known}); "
            "add it, or set inventory_group"
        )
    hostvars = (data.get("_meta") or {}).get("hostvars", {})
    hosts = []
    for name in _members(data, group):
        variables = hostvars.get(name, {})
        address = str(variables.get("ansible_host") or name)
        port = variables.get("ansible_port")
        try:
            port_number = int(port) if port is not None else None
        except ValueError:
            raise ConfigError(f"host {name} in {path} has ansible_port {port!r}, which is not a port number") from None
        user = variables.get("ansible_user")
        hosts.append(
            Host(
                name=name,
                target=ssh_url(address, str(user) if user else None, port_number),
                roles=_roles(data, group, name, variables),
                url=_host_url(env, name, address, variables.get("freigabe_url")),
                key_file=variables.get("ansible_ssh_private_key_file") or variables.get("ansible_private_key_file"),
                jump=_jump(variables),
            )
        )
    if not hosts:
        raise ConfigError(f"the group {group!r} in {path} has no hosts; add the hosts of {env_name} to it")
    return hosts


def _override(target: str, user: str | None, port: int | None) -> str:
    if user is None and port is None:
        return target
    parts = urlsplit(target)
    if parts.scheme != "ssh" or not parts.hostname:
        raise ConfigError(f"port and user apply to ssh:// targets only, not {target!r}")
    return ssh_url(parts.hostname, user or parts.username, port or parts.port)


def _from_table(env: EnvironmentConfig) -> list[Host]:
    hosts = []
    for name, cfg in env.hosts.items():
        target = _override(cfg.target or f"ssh://{name}", cfg.user, cfg.port)
        address = urlsplit(target).hostname or name
        hosts.append(
            Host(
                name=name,
                target=target,
                roles=list(cfg.roles),
                url=_host_url(env, name, address, cfg.url),
                key_file=cfg.key_file,
                jump=cfg.jump,
            )
        )
    return hosts


def _from_targets(env: EnvironmentConfig) -> list[Host]:
    targets = env.targets
    if not targets:
        raise ConfigError("the target list is empty; give at least one target")
    addresses = [urlsplit(t).hostname or t for t in targets]
    hosts = []
    for index, (target, address) in enumerate(zip(targets, addresses, strict=True)):
        parts = urlsplit(target)
        name = address if addresses.count(address) == 1 else f"{address}:{parts.port or 22}"
        roles = ["web", "migrate"] if index == 0 else ["web"]
        hosts.append(Host(name=name, target=target, roles=roles, url=_host_url(env, name, address, None)))
    return hosts


def environment_hosts(loaded: LoadedConfig, env_name: str) -> list[Host]:
    """Every host of the environment, checked: unique names, one `migrate` host where there is
    something to migrate, and a URL of its own for every web host of a fleet."""
    config = loaded.config
    env = config.environment(env_name)
    if env.inventory:
        hosts = _from_inventory(loaded, env_name, env)
    elif env.hosts:
        hosts = _from_table(env)
    else:
        hosts = _from_targets(env)
    local = [h.name for h in hosts if not h.target.startswith("ssh://")]
    if len(hosts) > 1 and local:
        raise ConfigError(
            f'environment {env_name} lists {len(hosts)} hosts, and {local[0]} is not an ssh:// target; "local" '
            "is this machine and can only be an environment's one target — give each host of a fleet as "
            "ssh://user@host:port"
        )
    names = [h.name for h in hosts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"environment {env_name} names the host {twice[0]} twice; give each host its own name")
    if len(hosts) == 1:  # a fleet of one: its host plays every role and is checked at the environment's URL
        return [hosts[0].model_copy(update={"roles": sorted({*hosts[0].roles, "web", "migrate"}), "url": None})]
    migrators = [h.name for h in hosts if h.migrate]
    if len(migrators) > 1:
        raise ConfigError(
            f"environment {env_name} gives the migrate role to {', '.join(migrators)}; migrations run once, "
            "on one host: keep 'migrate' on one of them"
        )
    if not migrators and (config.deploy.migrate or env.backup.db_dump):
        raise ConfigError(
            f"no host of {env_name} has the migrate role, but there are migrations (or a database dump) to run: "
            'add "migrate" to the roles of the host that runs them'
        )
    unreachable = [h.name for h in hosts if h.web and not h.url]
    if unreachable:
        raise ConfigError(
            f"the web hosts {', '.join(unreachable)} of {env_name} have no URL of their own, so they cannot be "
            'checked one by one: set url per host, or host_url = "http://{host}" for the environment'
        )
    return hosts


def select(hosts: list[Host], wanted: list[str] | None, env_name: str) -> list[Host]:
    """`--hosts web1,web3` (or `role:worker`): those hosts, in fleet order; unknown names are an error."""
    if not wanted:
        return hosts
    chosen: list[str] = []
    for item in (w.strip() for entry in wanted for w in entry.split(",")):
        if not item:
            continue
        if item.startswith("role:"):
            matched = [h.name for h in hosts if item[5:] in h.roles]
        else:
            matched = [h.name for h in hosts if h.name == item]
        if not matched:
            known = ", ".join(h.name for h in hosts)
            raise UsageError(f"--hosts {item!r} names no host of {env_name} (hosts: {known})")
        chosen += [m for m in matched if m not in chosen]
    return [h for h in hosts if h.name in chosen]


def ssh_config(base: SshConfig, host: Host) -> SshConfig:
    updates = {k: v for k, v in (("key_file", host.key_file), ("jump", host.jump)) if v}
    return base.model_copy(update=updates) if updates else base
