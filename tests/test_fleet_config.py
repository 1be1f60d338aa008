"""Fleet configuration without servers: hosts from a target list, a [hosts] table or an Ansible
inventory (YAML and INI, read by ansible-inventory), roles, per-host overrides, the switch order
of each strategy, a host's own view of the config, and one sentence for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from freigabe.adapters.inventory import environment_hosts, select
from freigabe.config import LoadedConfig, load_config
from freigabe.config.models import FleetConfig
from freigabe.core import pipeline
from freigabe.core.fleet import Host, drifted, fleet_release, host_config, rebase, switch_batches
from freigabe.core.plan import BundleRef
from freigabe.errors import ConfigError, UsageError

BASE = """
[environments.production]
deploy_path = "/var/www/shop"
url = "https://shop.example"
{extra}

[[environments.production.health]]
name = "app"
url = "https://shop.example/health"
bearer_token_env = "HEALTHCHECK_TOKEN"

[deploy]
migrate = [["php", "artisan", "migrate", "--force", "--isolated"]]
"""


def _load(tmp_path: Path, extra: str, files: dict[str, str] | None = None) -> LoadedConfig:
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "freigabe.toml").write_text(BASE.format(extra=extra))
    return load_config(tmp_path / "freigabe.toml")


def test_a_target_list_is_a_fleet_with_the_first_host_migrating(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        'target = ["ssh://deploy@10.0.0.11", "ssh://deploy@10.0.0.12:2222"]\nhost_url = "http://{host}:8080"',
    )
    hosts = environment_hosts(loaded, "production")
    assert [(h.name, h.roles, h.url) for h in hosts] == [
        ("10.0.0.11", ["web", "migrate"], "http://10.0.0.11:8080"),
        ("10.0.0.12", ["web"], "http://10.0.0.12:8080"),
    ]


def test_a_hosts_table_with_roles_and_overrides(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        """
[environments.production.hosts.web1]
target = "ssh://deploy@10.0.0.11"
port = 2201
url = "http://10.0.0.11"
roles = ["web", "migrate"]
[environments.production.hosts.web2]
user = "app"
key_file = "~/.ssh/web2"
jump = "ssh://ops@bastion:22"
url = "http://10.0.0.12"
[environments.production.hosts.queue1]
roles = ["worker", "cron"]
""",
    )
    web1, web2, queue1 = environment_hosts(loaded, "production")
    assert web1.target == "ssh://deploy@10.0.0.11:2201" and web1.migrate
    assert web2.target == "ssh://app@web2" and web2.key_file == "~/.ssh/web2" and web2.jump == "ssh://ops@bastion:22"
    assert queue1.roles == ["worker", "cron"] and not queue1.web and queue1.url is None
    assert [h.name for h in select([web1, web2, queue1], ["role:worker"], "production")] == ["queue1"]
    with pytest.raises(UsageError, match="names no host"):
        select([web1], ["web9"], "production")


YAML = """
all:
  children:
    production:
      vars:
        ansible_user: deploy
      children:
        production_web:
          hosts:
            web1:
              ansible_host: 10.0.0.11
              ansible_port: 2201
              freigabe_roles: [web, migrate]
            web2:
              ansible_host: 10.0.0.12
              ansible_ssh_private_key_file: /keys/web2
              ansible_ssh_common_args: "-o ProxyJump=ops@bastion:2222"
        production_worker:
          hosts:
            queue1:
              ansible_host: 10.0.0.21
              ansible_user: worker
    staging:
      hosts:
        stage1:
"""

INI = """
[web]
web1 ansible_host=10.0.0.11 ansible_port=2201 freigabe_roles=web,migrate
web2 ansible_host=10.0.0.12 ansible_ssh_private_key_file=/keys/web2 ansible_ssh_common_args='-J ops@bastion:2222'

[production_worker]
queue1 ansible_host=10.0.0.21 ansible_user=worker

[production:children]
web
production_worker

[production:vars]
ansible_user=deploy
"""


@pytest.mark.parametrize("name,text", [("inventory.yml", YAML), ("hosts.ini", INI)])
def test_an_ansible_inventory_through_ansible_inventory(tmp_path: Path, name: str, text: str) -> None:
    loaded = _load(tmp_path, f'inventory = "ansible:{name}"\nhost_url = "http://{{host}}"', {name: text})
    hosts = {h.name: h for h in environment_hosts(loaded, "production")}
    assert set(hosts) == {"web1", "web2", "queue1"}
    assert hosts["web1"].target == "ssh://deploy@10.0.0.11:2201" and hosts["web1"].roles == ["web", "migrate"]
    assert hosts["web2"].target == "ssh://deploy@10.0.0.12" and hosts["web2"].roles == ["web"]
    assert hosts["web2"].key_file == "/keys/web2" and hosts["web2"].jump == "ssh://ops@bastion:2222"
    assert hosts["queue1"].target == "ssh://worker@10.0.0.21" and hosts["queue1"].roles == ["worker"]
    assert hosts["web1"].url == "http://10.0.0.11" and hosts["queue1"].url == "http://10.0.0.21"


def test_inventory_mistakes_are_one_sentence(tmp_path: Path) -> None:
    loaded = _load(tmp_path, 'inventory = "ansible:missing.yml"')
    with pytest.raises(ConfigError, match="does not exist"):
        environment_hosts(loaded, "production")
    loaded = _load(tmp_path, 'inventory = "ansible:inv.yml"\ninventory_group = "prod"', {"inv.yml": YAML})
    with pytest.raises(ConfigError, match=r"no group 'prod'.*groups: .*production"):
        environment_hosts(loaded, "production")
    loaded = _load(tmp_path, 'inventory = "ansible:inv.yml"', {"inv.yml": "all: [this is: not an inventory"})
    with pytest.raises(ConfigError, match="ansible-inventory could not read"):
        environment_hosts(loaded, "production")


@pytest.mark.parametrize(
    "extra,message",
    [
        ('target = "ssh://a"\ninventory = "ansible:x.yml"', "one way only"),
        ('inventory = "inventory.yml"', "must name an Ansible inventory"),
        ("[environments.production.hosts.web1]\nroles = ['Web!']", "lower-case word"),
        ("[environments.production.fleet]\nwave_size = '0%'", "percentage"),
        ("[environments.production.fleet]\nstrategy = 'rolling'", "all-at-once"),
    ],
)
def test_config_mistakes(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, extra)
    assert message in " ".join(caught.value.problems)


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            "[environments.production.hosts.web1]\nroles=['web','migrate']\nurl='http://a'\n"
            "[environments.production.hosts.web2]\nroles=['web','migrate']\nurl='http://b'",
            "migrations run once",
        ),
        (
            "[environments.production.hosts.web1]\nurl='http://a'\n[environments.production.hosts.web2]\nurl='http://b'",
            "no host of production has the migrate role",
        ),
        (
            "[environments.production.hosts.web1]\nroles=['web','migrate']\n[environments.production.hosts.web2]",
            "no URL of their own",
        ),
    ],
)
def test_fleet_mistakes(tmp_path: Path, extra: str, message: str) -> None:
    loaded = _load(tmp_path, extra)
    with pytest.raises(ConfigError, match=message):
        environment_hosts(loaded, "production")


def _hosts(*specs: str) -> list[Host]:
    return [Host(name=s.split(":")[0], target=f"ssh://{s}", roles=s.split(":")[1].split("+")) for s in specs]


def test_switch_order_of_each_strategy() -> None:
    hosts = _hosts("w1:web+migrate", "w2:web", "w3:web", "w4:web", "q1:worker")
    assert switch_batches(hosts, FleetConfig()) == [["w1", "w2", "w3", "w4", "q1"]]
    assert switch_batches(hosts, FleetConfig(strategy="canary")) == [["w1"], ["w2", "w3", "w4", "q1"]]
    assert switch_batches(hosts, FleetConfig(strategy="canary", canary="w3")) == [["w3"], ["w1", "w2", "w4", "q1"]]
    assert switch_batches(hosts, FleetConfig(strategy="waves", wave_size=3)) == [["w1", "w2", "w3"], ["w4", "q1"]]
    assert switch_batches(hosts, FleetConfig(strategy="waves", wave_size="25%")) == [
        ["w1"],
        ["w2"],
        ["w3"],
        ["w4", "q1"],
    ]
    assert switch_batches(_hosts("q1:worker"), FleetConfig(strategy="canary")) == [["q1"]]


def test_a_host_sees_its_own_url_and_only_the_migrate_host_migrates(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "[environments.production.backup]\ndb_dump = ['mysqldump', 'shop']\n"
        "[environments.production.hosts.web1]\nroles=['web','migrate']\nurl='http://10.0.0.11:8080'\n"
        "[environments.production.hosts.web2]\nurl='http://10.0.0.12:8080'\n"
        "[environments.production.hosts.queue1]\nroles=['worker']",
    )
    web1, web2, queue1 = environment_hosts(loaded, "production")
    bundle = BundleRef(name="b.tar.gz", sha256="0" * 64, size=1, path="/b", sha="a" * 40)

    def steps(host: Host) -> dict[str, dict[str, object]]:
        config = host_config(loaded.config, "production", host, fleet=True)
        made = pipeline.deploy_steps(config, "production", bundle, "20260101_000000-aaaaaaaa", "s", "old", web=host.web)
        return {s.id: s.args for s in made}

    one, two, worker = steps(web1), steps(web2), steps(queue1)
    assert "migrate.1" in one and "migrate.1" not in two and "migrate.1" not in worker
    assert one["backup.create"]["db_dump"] == ["mysqldump", "shop"] and two["backup.create"]["db_dump"] is None
    assert two["health.app"]["url"] == "http://10.0.0.12:8080/health"
    assert two["health.app"]["origin"] == "http://10.0.0.12:8080"  # the token goes to that host, nowhere else
    assert "health.app" not in worker and "readiness" not in worker and "url.check" not in worker
    assert (
        rebase("https://elsewhere.example/x", "https://shop.example", "http://10.0.0.12")
        == "https://elsewhere.example/x"
    )


def test_drift() -> None:
    assert fleet_release({"a": "r2", "b": "r2", "c": "r1"}) == "r2"
    assert drifted({"a": "r2", "b": "r2", "c": "r1"}) == {"c": "r1"}
    assert drifted({"a": "r1", "b": "r1"}) == {}
