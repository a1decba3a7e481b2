"""The operator CLI on its own: init, accounts, workers."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from quantumlock.db.engine import make_engine
from tests.e2e.conftest import CLI, free_port, isolated_env

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = {**isolated_env(tmp_path), "QL_DATA_DIR": str(tmp_path / "data")}
    for name in ("QL_DATABASE_URL", "QL_MASTER_KEY"):
        out.pop(name, None)
    return out


def test_init_is_idempotent_and_private(env: dict[str, str], tmp_path: Path) -> None:
    first = run(env, "init")
    assert first.returncode == 0, first.stderr
    data = tmp_path / "data"
    key_file = data / "master.key"
    admin_file = data / "admin-key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(admin_file.stat().st_mode) == 0o600
    master, admin = key_file.read_text(), json.loads(admin_file.read_text())
    assert admin["api_key"].startswith("qcos_live_") and admin["id"].startswith("cust_")
    assert str(admin_file) in first.stdout and admin["api_key"] not in first.stdout

    second = run(env, "init")
    assert second.returncode == 0, second.stderr
    assert key_file.read_text() == master and json.loads(admin_file.read_text()) == admin
    listed = json.loads(run(env, "accounts", "list", "--json").stdout)
    assert [a["id"] for a in listed] == [admin["id"]]


def test_sqlite_runs_in_wal_mode_with_foreign_keys(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "init", "--no-bootstrap").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'quantumlock.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_serve_refuses_an_uninitialised_database(env: dict[str, str]) -> None:
    result = run(env, "serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "quantumlock init" in result.stderr


def test_an_unreachable_database_is_a_clear_error_without_its_password(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A data dir that does not exist (SQLite cannot create its file) and a PostgreSQL URL
    # with a password for a database that does not exist: one line each, no traceback.
    missing = str(tmp_path / "missing" / "data")
    env = {**env, "QL_DATA_DIR": missing, "QL_MASTER_KEY": "A" * 43 + "="}
    sqlite = run(env, "serve", "--port", str(free_port()))
    postgres = run(
        {**env, "QL_DATABASE_URL": "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/no_db"},
        "accounts",
        "list",
    )
    for result in (sqlite, postgres):
        assert result.returncode == 1
        assert "cannot open the database" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr


def test_accounts_and_limits(env: dict[str, str]) -> None:
    assert run(env, "init", "--no-bootstrap").returncode == 0
    created = json.loads(
        run(
            env,
            "accounts",
            "create",
            "--name",
            "A",
            "--email",
            "a@example.com",
            "--plan",
            "startup",
            "--json",
        ).stdout
    )
    result = run(
        env,
        "accounts",
        "set-limits",
        created["id"],
        "--requests-per-minute",
        "120",
        "--licenses-per-month",
        "unlimited",
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(run(env, "accounts", "list", "--json").stdout)[0]
    assert row["plan"] == "startup" and row["requests_per_minute"] == 120
    assert row["licenses_per_month"] == "unlimited"
    bad = run(env, "accounts", "set-limits", created["id"], "--licenses-per-month", "lots")
    assert bad.returncode == 2
    missing = run(env, "accounts", "set-limits", "cust_nope", "--burst", "5")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


def test_serve_with_two_workers(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "init").returncode == 0
    admin = json.loads((tmp_path / "data" / "admin-key.json").read_text())["api_key"]
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        statuses = {
            httpx.get(
                f"http://127.0.0.1:{port}/api/v2/me", headers={"Authorization": f"Bearer {admin}"}
            ).status_code
            for _ in range(20)
        }
        assert statuses == {200}
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_licenses_cli(env: dict[str, str]) -> None:
    assert run(env, "init", "--no-bootstrap").returncode == 0
    acct = json.loads(
        run(env, "accounts", "create", "--name", "L", "--email", "l@example.com", "--json").stdout
    )["id"]
    made = run(
        env,
        "licenses",
        "generate",
        "--account",
        acct,
        "--customer",
        "c@x",
        "--features",
        "premium,api",
        "--metadata",
        '{"seat": 1}',
        "--json",
    )
    assert made.returncode == 0, made.stderr
    lic = json.loads(made.stdout)
    assert lic["features"] == ["premium", "api"] and lic["metadata"] == {"seat": 1}
    ok = run(
        env,
        "licenses",
        "validate",
        lic["license_key"],
        "--account",
        acct,
        "--customer",
        "c@x",
        "--json",
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["code"] == "VALID"
    listed = json.loads(run(env, "licenses", "list", "--account", acct, "--json").stdout)
    assert listed["total"] == 1 and listed["licenses"][0]["license_key"] == lic["license_key"]
    assert (
        run(env, "licenses", "list", "--account", acct, "--test", "--json").stdout.count("QLOCK")
        == 0
    )
    assert run(env, "licenses", "revoke", lic["license_key"], "--account", acct).returncode == 0
    revoked = run(
        env, "licenses", "validate", lic["license_key"], "--account", acct, "--customer", "c@x"
    )
    assert revoked.returncode == 1 and "REVOKED" in revoked.stdout
    keys = json.loads(run(env, "licenses", "signing-keys", "--account", acct).stdout)["keys"]
    assert run(env, "licenses", "rotate-signing-key", "--account", acct).returncode == 0
    rotated = json.loads(run(env, "licenses", "signing-keys", "--account", acct).stdout)["keys"]
    assert len(rotated) == len(keys) + 1
    assert {k["status"] for k in rotated} == {"active", "verify_only"}
    bad = run(
        env, "licenses", "generate", "--account", acct, "--customer", "c", "--metadata", "[1]"
    )
    assert bad.returncode == 2
