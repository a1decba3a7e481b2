"""The vendor CLI's plumbing, in process: where credentials come from, the profile file, the
one error format, rate-limit waits that say what they wait for, file digests, timestamps."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from quantumlock.cli import api, config, digest
from quantumlock.cli.main import app
from quantumlock.cli.output import ts

URL = "http://ql.test"
KEY = "qcos_live_" + "A" * 40
OTHER = "qcos_live_" + "B" * 40
ME = {
    "key_id": "key_abc",
    "account_id": "cust_abc",
    "type": "live",
    "mode": "live",
    "scopes": ["admin"],
    "expires_at": None,
    "rate_limit": {"limit": 100, "remaining": 99, "reset_at": "2026-01-01T00:00:00Z"},
}
LICENSE = {
    "license_key": "QLOCK-AAAA-BBBB-CCCC",
    "quantum_signature": "00" * 64,
    "end_customer_id": "c@x",
    "features": ["a"],
    "valid_until": "2027-01-01T00:00:00Z",
    "quantum_verified": False,
    "qcos_fidelity": None,
    "security_level": "CRYPTOGRAPHIC",
    "generated_at": "2026-01-01T10:00:00.120000Z",
    "license_file": "qlf1.x.y.z",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("QCOS_API_KEY", "QCOS_BASE_URL", "QUANTUMLOCK_CONFIG", "QUANTUMLOCK_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "quantumlock" / "config.toml"


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def save_profile(name: str, key: str, url: str) -> None:
    saved = config.load()
    saved.profiles[name] = config.Profile(api_key=key, base_url=url)
    config.save(saved)


def test_credentials_flags_then_profile_flag_then_env_then_default_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_profile("default", KEY, "http://default")
    save_profile("staging", OTHER, "http://staging")
    assert api.resolve(None, None, None) == api.Credentials(
        KEY, "http://default", f"profile 'default' ({config.config_path()})"
    )
    monkeypatch.setenv("QCOS_API_KEY", OTHER)
    env = api.resolve(None, None, None)
    # The environment's key never goes to the default profile's server.
    assert (env.api_key, env.base_url) == (OTHER, api.DEFAULT_BASE_URL)
    assert api.resolve(None, None, "staging").base_url == "http://staging"
    flag = api.resolve("qcos_live_flag", "http://flag/", "staging")
    assert (flag.api_key, flag.base_url, flag.source) == (
        "qcos_live_flag",
        "http://flag",
        "--api-key",
    )


def test_no_key_is_one_error_line_naming_where_it_looked(clean_env: Path) -> None:
    result = invoke("keys", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: NO_API_KEY: no API key: pass --api-key")
    assert str(clean_env) in result.stderr and result.stderr.count("\n") == 1


@respx.mock
def test_login_saves_a_private_profile_and_never_prints_the_key(clean_env: Path) -> None:
    respx.get(f"{URL}/api/v2/me").mock(return_value=httpx.Response(200, json={"data": ME}))
    result = invoke("login", "--base-url", URL, stdin=KEY + "\n")
    assert result.exit_code == 0, result.output
    assert KEY not in result.output and "qcos_live_AAAA…" in result.output
    assert stat.S_IMODE(clean_env.stat().st_mode) == 0o600
    assert config.load().profiles["default"] == config.Profile(api_key=KEY, base_url=URL)
    assert invoke("logout").exit_code == 0 and not clean_env.exists()


def test_the_config_file_round_trips_odd_names_and_values(clean_env: Path) -> None:
    saved = config.Config(clean_env, Path('/srv/q "l"'), {"a b": config.Profile('k"\\', None)})
    config.save(saved)
    assert config.load() == saved


@respx.mock
def test_a_rate_limit_wait_says_what_it_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("quantumlock.cli.api.time.sleep", slept.append)
    limited = httpx.Response(
        429,
        headers={"Retry-After": "3"},
        json={"detail": "Rate limit exceeded.", "code": "RATE_LIMIT_EXCEEDED",
              "timestamp": "t", "request_id": "r1", "retry_after": 3, "reason": "rate_limit"},
    )  # fmt: skip
    route = respx.post(f"{URL}/api/v1/licenses/generate").mock(
        side_effect=[limited, httpx.Response(201, json=LICENSE)]
    )
    result = invoke(
        "licenses", "generate", "--customer", "c@x", "--json", "--api-key", KEY, "--base-url", URL
    )
    assert result.exit_code == 0, result.output
    assert route.call_count == 2 and slept == [3]
    assert "waiting 3 s for the rate limit (RATE_LIMIT_EXCEEDED" in result.stderr
    assert "generate a license" in result.stderr
    # Timestamps exactly as the API wrote them.
    assert '"generated_at": "2026-01-01T10:00:00.120000Z"' in result.stdout


@respx.mock
def test_a_monthly_quota_is_reported_at_once_with_its_reset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "quantumlock.cli.api.time.sleep", lambda _: pytest.fail("must not wait for a quota")
    )
    respx.post(f"{URL}/api/v1/licenses/generate").mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "50"},
            json={
                "detail": "Monthly limit reached (100 licenses).",
                "code": "RATE_LIMIT_EXCEEDED",
                "timestamp": "t",
                "request_id": "r2",
                "retry_after": 50,
                "reason": "monthly_quota",
                "quota_reset_at": "2027-01-01T00:00:00Z",
            },
        )
    )
    result = invoke("licenses", "generate", "--customer", "c", "--api-key", KEY, "--base-url", URL)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: RATE_LIMIT_EXCEEDED: Monthly limit reached (100 licenses). "
        "Resets at 2027-01-01T00:00:00Z. [request_id=r2]\n"
    )


def test_usage_errors_keep_the_one_format() -> None:
    result = invoke("licenses", "generate", "--customer", "c", "--test", "--api-key", KEY)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: USAGE_ERROR: --test needs --account")


def test_a_file_digest_is_sha512_streamed_and_framed(tmp_path: Path) -> None:
    data = bytes(range(256)) * (digest.CHUNK // 100)  # several chunks, not a whole one
    (tmp_path / "f").write_bytes(data)
    made = digest.digest_of(str(tmp_path / "f"), console=None)  # type: ignore[arg-type]
    assert made.size == len(data) and made.digest == hashlib.sha512(data).digest()
    assert made.statement == b"QL-FILE-DIGEST-v1\x00SHA-512\x00" + made.digest
    assert made.metadata()["mode"] == "sha512-digest"


def test_timestamps_print_as_the_api_writes_them() -> None:
    assert ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    plus_two = timezone(timedelta(hours=2))
    assert ts(datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=plus_two)) == "2026-01-02T03:04:05.000007Z"
    assert ts(None) is None


def test_an_unreachable_server_is_named_with_where_its_url_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QCOS_API_KEY", KEY)
    monkeypatch.setenv("QCOS_BASE_URL", "http://127.0.0.1:9")  # discard: nothing listens
    result = invoke("keys", "list")
    assert result.exit_code == 2 and result.stderr.startswith("error: CONNECTION_ERROR: ")
    assert "(server http://127.0.0.1:9, from QCOS_API_KEY/QCOS_BASE_URL)" in result.stderr
    assert KEY not in result.stderr


def test_a_profile_file_readable_by_others_is_warned_about(clean_env: Path) -> None:
    save_profile("default", KEY, "http://127.0.0.1:9")
    clean_env.chmod(0o644)
    result = invoke("keys", "list")
    assert f"warning: {clean_env} holds API keys and is readable by others" in result.stderr
