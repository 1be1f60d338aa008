"""dotenv parsing, redaction, the loopback web server, and the health adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from freigabe.adapters.demo_webserver import ReleaseServer
from freigabe.adapters.dotenv import parse_dotenv
from freigabe.adapters.health import check_assets, manifest_files, probe_release, run_health_check
from freigabe.core.redact import MASK, Redactor


def test_dotenv() -> None:
    text = (
        "# comment\n\nAPP_NAME=shop\nexport HEALTHCHECK_TOKEN=abc123 # trailing\n"
        'QUOTED="a b \\"c\\" # not a comment"\nSINGLE=\'x # y\'\nEMPTY=\nSPACED = value  \n'
        "URL=http://x/#anchor\n"
    )
    values = parse_dotenv(text)
    assert values["HEALTHCHECK_TOKEN"] == "abc123"
    assert values["QUOTED"] == 'a b "c" # not a comment'
    assert values["SINGLE"] == "x # y"
    assert values["EMPTY"] == "" and values["SPACED"] == "value"
    assert values["URL"] == "http://x/#anchor"


def test_redactor() -> None:
    r = Redactor(["s3cr3t-value", "ab"])
    assert r.text("token s3cr3t-value here") == f"token {MASK} here"
    assert r.text("ab stays") == "ab stays"  # too short to be a secret
    assert MASK in r.text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x")
    assert r.text("DB_PASSWORD=hunter2") == f"DB_PASSWORD={MASK}"
    assert r.data({"a": ["s3cr3t-value", 1]}) == {"a": [MASK, 1]}


@pytest.fixture
def site(tmp_path: Path):
    release = tmp_path / "releases" / "r1"
    (release / "public" / "build" / "assets").mkdir(parents=True)
    (release / "public" / "index.html").write_text("hello")
    (release / "public" / "health.json").write_text('{"status": "ok", "db": {"up": true}}')
    (release / "public" / "REVISION").write_text("r1\n")
    (release / "public" / "build" / "assets" / "app.js").write_text("js")
    (release / "public" / "build" / "manifest.json").write_text(
        json.dumps(
            {
                "a.js": {"file": "assets/app.js", "css": ["assets/app.css"]},
            }
        )
    )
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / ".env").write_text("HEALTHCHECK_TOKEN='tok-123456'\n")
    os.symlink("releases/r1", tmp_path / "current")
    server = ReleaseServer(tmp_path, protected=("/health",)).start()
    yield server
    server.stop()


def test_server_resolves_current_and_protects(site: ReleaseServer) -> None:
    assert httpx.get(f"{site.url}/").text == "hello"
    response = httpx.get(f"{site.url}/REVISION")
    assert response.text.strip() == "r1" and response.headers["X-Release"] == "r1"
    assert httpx.get(f"{site.url}/health").status_code == 401
    ok = httpx.get(f"{site.url}/health", headers={"Authorization": "Bearer tok-123456"})
    assert ok.status_code == 200
    assert httpx.get(f"{site.url}/../../secret.txt").status_code == 404
    assert httpx.get(f"{site.url}/%2e%2e/%2e%2e/secret.txt").status_code == 404


def test_health_check_judgement(site: ReleaseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOK", "tok-123456")
    base = {
        "name": "h",
        "url": f"{site.url}/health",
        "bearer_token_env": "TOK",
        "attempts": 2,
        "interval": 0.01,
        "timeout": 1,
    }
    assert run_health_check({**base, "expect_json": {"status": "ok", "db": {"up": True}}}).ok
    nested = run_health_check({**base, "expect_json": {"db": {"up": False}}})
    assert not nested.ok and "db.up is true, expected false" in nested.reason
    assert not run_health_check({**base, "body_contains": "nope"}).ok
    monkeypatch.setenv("TOK", "wrong-token")
    refused = run_health_check(base)
    assert [a.status for a in refused.attempts] == [401, 401] and "credentials refused" in refused.reason
    down = run_health_check({**base, "url": "http://127.0.0.1:9/health"})
    assert down.attempts[0].status is None and "connection refused" in down.reason


def test_probe_and_assets(site: ReleaseServer) -> None:
    assert probe_release({"url": f"{site.url}/REVISION"}) == ("r1", "HTTP 200")
    assert probe_release({"url": f"{site.url}/", "source": "header", "header": "X-Release"})[0] == "r1"
    report = check_assets({"manifest_url": f"{site.url}/build/manifest.json", "base_url": f"{site.url}/build/"})
    assert not report.ok and "1 of 2 assets not served" in report.problem and "app.css" in report.problem
    extra = check_assets({"extra_urls": [f"{site.url}/index.html"]})
    assert extra.ok


def test_manifest_files() -> None:
    manifest = {"a": {"file": "x.js", "css": ["x.css"], "assets": ["f.woff"]}, "b": {"file": "x.js"}}
    assert manifest_files(manifest) == ["x.js", "x.css", "f.woff"]
    with pytest.raises(ValueError, match="no 'file'"):
        manifest_files({"a": {}})
    with pytest.raises(ValueError, match="not a JSON object"):
        manifest_files([])


def test_basic_auth_and_bearer_together(site: ReleaseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging behind basic auth *and* a token on /health: both must be right; 401 never passes."""
    site.basic_auth = ("staging", "pw-123456")
    monkeypatch.setenv("TOK", "tok-123456")
    monkeypatch.setenv("STAGING_PW", "pw-123456")
    args = {
        "name": "h",
        "url": f"{site.url}/health",
        "bearer_token_env": "TOK",
        "attempts": 1,
        "basic_auth_user": "staging",
        "basic_auth_password_env": "STAGING_PW",
        "timeout": 1,
    }
    assert run_health_check(args).ok
    monkeypatch.setenv("STAGING_PW", "wrong-password")
    assert run_health_check(args).attempts[0].status == 401
    monkeypatch.setenv("STAGING_PW", "pw-123456")
    monkeypatch.setenv("TOK", "wrong-token-value")
    assert run_health_check(args).attempts[0].status == 401
    bearer_only = {k: v for k, v in args.items() if not k.startswith("basic")}
    assert run_health_check(bearer_only).attempts[0].status == 401
