"""Crash safety: `kill -9` of the server under a write load (license generate and revoke,
API key create and rotate), on SQLite and on PostgreSQL. After a restart on the same data:
every acknowledged write is there, nothing is half-written, and the monthly quota counter
equals the live licenses generated this month.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import bearer
from tests.e2e.conftest import Server, init_and_serve, start_server, stop_server
from tests.secret_scan import REGISTRY

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("crash")]

LOAD_SECONDS_BEFORE_KILL = 2.0
# On a loaded machine the first answers can take longer: the kill waits (up to this) until
# every kind of write has been acknowledged at least once.
MAX_SECONDS_BEFORE_KILL = 60.0
THREADS = 4


@dataclass
class Acknowledged:
    licenses: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    rotations: dict[str, str] = field(default_factory=dict)  # new id -> old id
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(base_url: str, admin: str, done: Acknowledged, stop: threading.Event) -> None:
    """Writes until the server stops answering; records only what it answered 2xx to."""
    last_license: str | None = None
    last_key: str | None = None
    with httpx.Client(base_url=base_url, timeout=5, headers=bearer(admin)) as client:
        for i in range(100_000):
            if stop.is_set():
                return
            try:
                made = client.post("/api/v1/licenses/generate", json={"end_customer_id": "c-1"})
                if made.status_code == 201:
                    last_license = made.json()["license_key"]
                    with done.lock:
                        done.licenses.add(last_license)
                if i % 4 == 3 and last_license:
                    revoked = client.post(f"/api/v1/licenses/{last_license}/revoke")
                    if revoked.status_code == 200:
                        with done.lock:
                            done.revoked.add(last_license)
                if i % 3 == 0:
                    key = client.post("/api/v2/keys", json={"name": f"k{i}"})
                    if key.status_code == 201:
                        data = key.json()["data"]
                        REGISTRY.add(data["key"])
                        last_key = data["id"]
                        with done.lock:
                            done.keys.add(last_key)
                if i % 5 == 4 and last_key:
                    rotated = client.post(
                        f"/api/v2/keys/{last_key}/rotate", json={"grace_period": "0s"}
                    )
                    if rotated.status_code == 201:
                        data = rotated.json()["data"]
                        REGISTRY.add(data["key"])
                        with done.lock:
                            done.rotations[data["id"]] = last_key
                            done.keys.add(data["id"])
                        last_key = data["id"]
            except httpx.TimeoutException:
                continue  # slow, not gone: its write is not acknowledged, and that is all
            except httpx.TransportError:
                return


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Server, str, Path]]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    server = start_server(tmp_path, url)
    database = url or f"sqlite:///{tmp_path / 'data' / 'quantumlock.db'}"
    try:
        yield server, database, tmp_path
    finally:
        # The test restarts the server; stop whichever process is the current one.
        stop_server(getattr(request.node, "restarted", server))


def rows(database: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query), params))
    finally:
        engine.dispose()


def test_kill_9_under_writes_keeps_every_acknowledged_write_whole(
    crash_server: tuple[Server, str, Path], request: pytest.FixtureRequest
) -> None:
    server, database, tmp = crash_server
    created = server.cli_json("accounts", "create", "--name", "Crash Co", "--email",
                              "crash@example.com", "--plan", "business")  # fmt: skip
    assert isinstance(created, dict)
    account, admin = str(created["id"]), str(created["api_key"])
    REGISTRY.add(admin)

    done = Acknowledged()
    stop = threading.Event()
    threads = [
        threading.Thread(target=writer, args=(server.base_url, admin, done, stop))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while time.monotonic() - started < MAX_SECONDS_BEFORE_KILL and (
        time.monotonic() - started < LOAD_SECONDS_BEFORE_KILL
        or not (done.licenses and done.keys and done.revoked and done.rotations)
    ):
        time.sleep(0.1)
    server.process.send_signal(signal.SIGKILL)  # mid-load: no shutdown, no flush
    server.process.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert done.licenses and done.keys and done.revoked and done.rotations, done

    restarted = init_and_serve(tmp, server.env)
    request.node.restarted = restarted

    # Every acknowledged write is there.
    license_rows = rows(
        database, "SELECT license_key, status FROM licenses WHERE account_id = :a", a=account
    )
    licenses = {r.license_key: r.status for r in license_rows}
    assert done.licenses <= set(licenses), done.licenses - set(licenses)
    assert all(licenses[k] == "revoked" for k in done.revoked)
    key_rows = rows(
        database,
        "SELECT id, key_hash, prefix, scopes, expires_at, revoked_at, rotated_from "
        "FROM api_keys WHERE account_id = :a",
        a=account,
    )
    keys = {r.id: r for r in key_rows}
    assert done.keys <= set(keys), done.keys - set(keys)

    # Nothing is half-written: key rows are complete, a rotation always ends its old key,
    # every revoked license has exactly one revoke event and every revoke event its status.
    for row in keys.values():
        assert len(bytes(row.key_hash)) == 32 and row.prefix and row.scopes is not None
        if row.rotated_from is not None:
            old = keys[row.rotated_from]
            assert old.expires_at is not None or old.revoked_at is not None, row
    for new, old in done.rotations.items():
        assert keys[new].rotated_from == old
    events = rows(database, "SELECT l.license_key, count(*) AS n FROM license_events e JOIN "
                  "licenses l ON l.id = e.license_id WHERE e.account_id = :a AND "
                  "e.action = 'revoke' GROUP BY l.license_key", a=account)  # fmt: skip
    revoke_events = {r.license_key: r.n for r in events}
    revoked_rows = {k for k, status in licenses.items() if status == "revoked"}
    assert set(revoke_events) == revoked_rows and set(revoke_events.values()) <= {1}

    # The quota is exact: the counter is the number of live licenses made this month.
    period = datetime.now(UTC).strftime("%Y-%m")
    [used] = rows(database, "SELECT used FROM license_usage WHERE account_id = :a AND "
                  "period = :p", a=account, p=period)  # fmt: skip
    assert used.used == sum(1 for _ in licenses), (used.used, len(licenses))

    # And the restarted server serves them: each acknowledged license validates as it should.
    with restarted.client() as client:
        for key in sorted(done.licenses)[:25]:
            answer = client.post(
                "/api/v1/licenses/validate",
                json={"license_key": key, "end_customer_id": "c-1"},
                headers=bearer(admin),
            )
            assert answer.status_code == 200, answer.text
            expected = "REVOKED" if key in revoked_rows else "VALID"
            assert answer.json()["code"] == expected, (key, answer.json())
