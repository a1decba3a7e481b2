"""The CLI's operator guarantees around the data dir: a wrong master key is refused before
`serve` listens (quantumlock.keyring.canary), rotation carries the canary along, and the
database's files are the owner's alone whatever the umask (quantumlock.db.engine)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quantumlock.bootstrap import make_sealer
from quantumlock.keyring.canary import CANARY_AAD, CANARY_VALUE
from tests.conftest import fresh_postgres_database
from tests.e2e.conftest import CLI, free_port, serve, stop_server

pytestmark = pytest.mark.e2e


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def run(
    env: dict[str, str], *args: str, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    command = [*CLI, *args]
    if umask is not None:  # the child's umask, as an operator's shell would set it
        command = ["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", *command]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def base_env(tmp_path: Path) -> dict[str, str]:
    out = {**os.environ, "QL_DATA_DIR": str(tmp_path / "data")}
    for name in ("QL_DATABASE_URL", "QL_MASTER_KEY", "QL_API_KEY_PEPPER"):
        out.pop(name, None)
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    out = base_env(tmp_path)
    if request.param == "sqlite":
        yield out
        return
    with fresh_postgres_database() as url:
        yield {**out, "QL_DATABASE_URL": url}


def test_serve_refuses_a_master_key_that_is_not_the_databases(
    env: dict[str, str], tmp_path: Path
) -> None:
    right, wrong = new_key(), new_key()
    init = run({**env, "QL_MASTER_KEY": right}, "init", "--no-bootstrap")
    assert init.returncode == 0, init.stderr
    assert "Sealed the master-key canary." in init.stdout

    refused = run({**env, "QL_MASTER_KEY": wrong}, "serve", "--port", str(free_port()))
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    # One line in the CLI's one error format, naming the database it opened.
    database = env.get("QL_DATABASE_URL", "").replace("postgresql+psycopg://postgres@", "")
    assert len(lines) == 1 and lines[0].startswith(
        "error: MASTER_KEY: master key does not open this database's canary: QL_MASTER_KEY is "
        "not the key this database was initialised with (database "
    )
    assert (database or str(tmp_path / "data" / "quantumlock.db")) in lines[0]
    assert wrong not in refused.stderr + refused.stdout
    # `init` again with the wrong key refuses too (it would seal new secrets under it).
    again = run({**env, "QL_MASTER_KEY": wrong}, "init", "--no-bootstrap")
    assert again.returncode == 1 and "canary" in again.stderr

    server = serve(tmp_path, {**env, "QL_MASTER_KEY": right})
    try:
        ready = httpx.get(server.base_url + "/health/ready").json()
        assert ready["master_key"] == "ok" and ready["status"] == "ok"
    finally:
        stop_server(server)


def test_a_database_from_before_the_canary_gets_one_at_serve(
    env: dict[str, str], tmp_path: Path
) -> None:
    from sqlalchemy import text

    from quantumlock.db.engine import make_engine
    from quantumlock.settings import Settings

    key = new_key()
    assert run({**env, "QL_MASTER_KEY": key}, "init", "--no-bootstrap").returncode == 0
    url = Settings(
        data_dir=tmp_path / "data", database_url=env.get("QL_DATABASE_URL")
    ).resolved_database_url
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:  # as an upgraded database is: no canary row
            conn.execute(text("DELETE FROM master_key_canary"))
        server = serve(tmp_path, {**env, "QL_MASTER_KEY": key})
        stop_server(server)
        with engine.connect() as conn:
            sealed = conn.execute(text("SELECT sealed FROM master_key_canary")).scalar_one()
        assert make_sealer(Settings(master_key=key)).open(bytes(sealed), CANARY_AAD) == CANARY_VALUE
    finally:
        engine.dispose()
    refused = run({**env, "QL_MASTER_KEY": new_key()}, "serve", "--port", str(free_port()))
    assert refused.returncode == 1 and "canary" in refused.stderr


def test_rotation_and_retirement_carry_the_canary(tmp_path: Path) -> None:
    env = base_env(tmp_path)  # the key file: rotate-master writes it
    assert run(env, "init", "--no-bootstrap").returncode == 0
    rotated = run(env, "keystore", "rotate-master", "--json")
    assert rotated.returncode == 0, rotated.stderr
    report = json.loads(rotated.stdout)
    assert report["tables"]["master_key_canary.sealed"]["rewrapped"] == 1
    retired = run(env, "keystore", "retire-master")
    assert retired.returncode == 0, retired.stderr
    # Only the new key is left: the canary opens under it, so init and serve accept it.
    again = run(env, "init", "--no-bootstrap")
    assert again.returncode == 0, again.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_stay_private_whatever_the_umask(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "QL_MASTER_KEY": new_key()}
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)  # a data dir that existed, world-readable
    init = run(env, "init", umask=0o022)
    assert init.returncode == 0, init.stderr
    db = data / "quantumlock.db"
    assert _mode(data) == 0o700
    assert _mode(db) == 0o600
    # Opened up behind the service's back (a copy, a restore): serve closes them again.
    data.chmod(0o755)
    db.chmod(0o644)
    admin = json.loads((data / "admin-key.json").read_text())["api_key"]
    server = serve(tmp_path, env, umask=0o022)
    try:
        made = httpx.post(
            server.base_url + "/api/v1/licenses/generate",
            json={"end_customer_id": "c-1"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert made.status_code == 201, made.text
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files), sorted(p.name for p in data.iterdir())
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(data) == 0o700
    finally:
        stop_server(server)
