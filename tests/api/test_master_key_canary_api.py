"""Readiness fails (503) when this node's master key does not open the database's canary
(quantumlock.keyring.canary): a wrong key can serve nothing sealed."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.bootstrap import make_sealer
from quantumlock.db.engine import make_engine
from quantumlock.db.migrate import upgrade
from quantumlock.keyring.canary import CanaryMismatch, check_canary, ensure_canary
from quantumlock.settings import Settings
from tests.conftest import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: the shared test database must not get a foreign canary."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'canary.db'}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


def _settings(url: str, tmp_path: Path, key: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=url, master_key=key)


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_readiness_fails_when_the_key_does_not_open_the_canary(
    own_database: str, tmp_path: Path
) -> None:
    right, wrong = _key(), _key()
    engine = make_engine(own_database, pool_size=1)
    try:
        assert check_canary(engine, make_sealer(_settings(own_database, tmp_path, right))) is None
        assert ensure_canary(engine, make_sealer(_settings(own_database, tmp_path, right)), "x")
    finally:
        engine.dispose()

    with TestClient(create_app(_settings(own_database, tmp_path, wrong))) as client:
        resp = client.get("/health/ready")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["master_key"] == "wrong key"
        assert body["detail"] == (
            "master key does not open this database's canary: QL_MASTER_KEY is not the key "
            "this database was initialised with"
        )
        assert wrong not in resp.text
        assert client.get("/health/live").status_code == 200  # alive, just not ready

    with TestClient(create_app(_settings(own_database, tmp_path, right))) as client:
        resp = client.get("/health/ready")
        assert resp.status_code == 200
        assert resp.json()["master_key"] == "ok"


def test_ensure_canary_refuses_a_wrong_key_and_names_its_source(
    own_database: str, tmp_path: Path
) -> None:
    engine = make_engine(own_database, pool_size=1)
    try:
        sealer = make_sealer(_settings(own_database, tmp_path, _key()))
        assert ensure_canary(engine, sealer, "A") is True  # sealed now
        assert ensure_canary(engine, sealer, "A") is False  # the same key: checked, kept
        with pytest.raises(CanaryMismatch, match=r"^master key does not open .*: B is not"):
            ensure_canary(engine, make_sealer(_settings(own_database, tmp_path, _key())), "B")
    finally:
        engine.dispose()
