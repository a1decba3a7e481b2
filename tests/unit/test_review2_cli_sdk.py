"""Review 2: CLI config file and SDK robustness bugs (each fails before its fix)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import qcos
from quantumlock.cli import config
from quantumlock.cli.main import app

ME = {
    "key_id": "key_abc",
    "account_id": "cust_abc",
    "type": "live",
    "mode": "live",
    "scopes": ["admin"],
    "expires_at": None,
    "rate_limit": {"limit": 100, "remaining": 99, "reset_at": "2026-01-01T00:00:00Z"},
}
KEY = "qcos_live_" + "A" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QCOS_API_KEY", "QCOS_BASE_URL", "QUANTUMLOCK_CONFIG", "QUANTUMLOCK_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_config_save_does_not_follow_a_symlink_planted_at_its_temporary_name(
    tmp_path: Path,
) -> None:
    # The temporary name is predictable (.config.toml.<pid>.tmp) and opened without
    # O_EXCL/O_NOFOLLOW: whoever can write the config dir redirects the API key anywhere.
    shared = tmp_path / "shared"
    shared.mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("someone else's file\n")
    os.symlink(target, shared / f".config.toml.{os.getpid()}.tmp")
    saved = config.Config(
        shared / "config.toml", None, {"default": config.Profile(KEY, "http://x")}
    )
    try:
        config.save(saved)
    except config.ConfigError as exc:
        assert str(shared) in str(exc)
    assert KEY not in target.read_text(), "the API key was written through the planted symlink"
    assert not (shared / "config.toml").is_symlink()


def test_login_with_a_non_ascii_key_is_one_error_line_not_a_traceback() -> None:
    # A key pasted with a stray non-ASCII character (a smart quote, a non-breaking space).
    result = CliRunner().invoke(
        app, ["login", "--base-url", "http://127.0.0.1:9", "--api-key", KEY + "\u00a0"]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ")
    assert KEY not in result.output


def test_sdk_non_ascii_key_is_a_qcos_error() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"data": ME}))
    # Refused when the client is made (a ConfigurationError, a QCOSError), not on a call.
    with pytest.raises(qcos.ConfigurationError) as refused:
        qcos.Client(api_key=KEY + "\u00e9", base_url="http://x", transport=transport)
    assert KEY not in str(refused.value)


def test_sdk_out_of_range_rate_limit_reset_header_does_not_escape_as_overflow_error() -> None:
    headers = {
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "99",
        "x-ratelimit-reset": "99999999999999999999",
    }
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"data": ME}, headers=headers)
    )
    client = qcos.Client(api_key=KEY, base_url="http://x", transport=transport)
    me = client.me()  # raised OverflowError (not even a QCOSError) from ResponseInfo.of
    assert me.key_id == "key_abc"
    assert client.last_response is not None and client.last_response.rate_limit is None


def test_licenses_verify_with_a_damaged_keys_file_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text('{"keys":[{"alg":"Ed25519+ML-DSA-65","status":"active"}]}')
    (tmp_path / "l.qlf").write_text("qlf1.eyJraWQiOiJrMSIsIm1vZGUiOiJsaXZlIn0.eA.eQ\n")
    result = CliRunner().invoke(
        app,
        [
            "licenses",
            "verify",
            str(tmp_path / "l.qlf"),
            "--public-keys",
            str(tmp_path / "keys.json"),
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (1, 2)


def test_licenses_verify_of_a_non_utf8_license_file_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text('{"keys":[]}')
    (tmp_path / "l.qlf").write_bytes(b"\xff\xfe")
    result = CliRunner().invoke(
        app,
        [
            "licenses",
            "verify",
            str(tmp_path / "l.qlf"),
            "--public-keys",
            str(tmp_path / "keys.json"),
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (1, 2)
