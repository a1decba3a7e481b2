"""The secrets scan can fail: a test that logs a key, or gets one back in an error body, or a
server log file holding one, is caught."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.secret_scan import SecretsRegistry, find_secrets, scan_log_files

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

KEY = "qcos_live_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def test_find_secrets_sees_keys_and_registered_values() -> None:
    registry = SecretsRegistry()
    registry.add("a shared secret value", b"\x01\x02", "short")
    assert find_secrets(f'{{"event":"x","key":"{KEY}"}}')
    assert find_secrets("plaintext was: a shared secret value", registry)
    assert not find_secrets('{"prefix":"qcos_live_Ab12..."}', registry)
    assert not find_secrets("short", registry)  # too short to be registered
    # The report shortens what it found, so it does not leak the secret in turn.
    assert KEY not in " ".join(find_secrets(KEY))


def test_a_server_log_file_with_a_key_is_found(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    # Not *.log: the session's own scan of this run's logs would (rightly) trip on it.
    (tmp_path / "node" / "server.planted").write_text(f"INFO authenticated {KEY}\n")
    (tmp_path / "clean.planted").write_text("INFO nothing here\n")
    [hit] = scan_log_files(tmp_path, "*.planted")
    assert "server.planted" in hit


# --show-capture=no: the inner run's report must not echo the leaked key into this test's
# own captured output (which the scan reads too).
INNER_ARGS = ("-p", "no:xdist", "-p", "no:cacheprovider", "--show-capture=no")
INNER_CONFTEST = """
from tests.conftest import *  # noqa: F401,F403 - the project's fixtures and the scan's hooks
"""


def test_a_test_that_leaks_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A separate process: the inner run's log records and registered secret stay there.
    monkeypatch.setenv("PYTHONPATH", f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        f"""
        import logging
        import structlog

        def test_logs_a_key():
            structlog.get_logger().warning("oops", key="{KEY}")

        def test_stdlib_log_of_a_registered_secret(secrets_registry):
            secrets_registry.add("the quick brown fox plaintext")
            logging.getLogger("x").error("decrypted: the quick brown fox plaintext")

        def test_clean():
            structlog.get_logger().warning("fine", prefix="qcos_live_Ab12...")
        """
    )
    result = pytester.runpytest_subprocess(*INNER_ARGS)
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*secret scan*test_logs_a_key*", "*qcos_live_A1b2*"])
    assert KEY not in result.stdout.str()


def test_an_error_body_with_a_secret_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        f"""
        import httpx
        from tests.secret_scan import watch_client

        def handler(request):
            return httpx.Response(400, json={{"detail": "bad key {KEY}"}})

        def test_error_body_leaks():
            client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://t")
            watch_client(client)
            assert client.get("/x").status_code == 400
        """
    )
    result = pytester.runpytest_inprocess(*INNER_ARGS)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*secret scan*test_error_body_leaks*", "*error body: qcos_*"])
