"""`quantumlock keystore rotate-master` against a running server, which is never restarted.

The server keeps its master keyring in the data dir's key file (no QL_MASTER_KEY). Secrets
of every kind exist before the rotation: an account's licensing HMAC secret and signing key
(from generating a license), keystore keys, and an open key-exchange session. After the
rotation the same server validates licenses, decrypts with pre-rotation keys and completes
the pre-rotation session: it learned the new key from the file on the first unknown key id.
A blob still under the old key keeps `retire-master` from dropping it; once re-wrapped and
retired, every blob opens with the new key alone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from sqlalchemy import select, update

from quantumlock.crypto.models import QuantumKey, key_aad
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.keyring.rewrap import count_by_key, verify_all
from quantumlock.keyring.sealing import KeyringFile, Sealer, SealingError, key_id
from tests.conftest import fresh_postgres_database
from tests.e2e.conftest import Server, init_and_serve, stop_server

pytestmark = pytest.mark.e2e


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def start_file_keyed_server(tmp: Path, database_url: str | None) -> Server:
    """Like tests.e2e.conftest.start_server, but the master key lives in the key file."""
    env = {**os.environ, "QL_DATA_DIR": str(tmp / "data")}
    for name in ("QL_MASTER_KEY", "QL_API_KEY_PEPPER", "QL_DATABASE_URL"):
        env.pop(name, None)
    if database_url:
        env["QL_DATABASE_URL"] = database_url
    server = init_and_serve(tmp, env)
    assert (tmp / "data" / "master.key").exists()
    return server


def own_postgres_database() -> contextlib.AbstractContextManager[str]:
    """A database of its own: the shared test database holds blobs sealed by other tests
    under another master key, and rotation must see only this server's."""
    return fresh_postgres_database("ql_rot")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rot_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(own_postgres_database()) if request.param == "postgres" else None
        srv = start_file_keyed_server(tmp_path, url)
        try:
            yield srv, url or f"sqlite:///{tmp_path / 'data' / 'quantumlock.db'}"
        finally:
            stop_server(srv)


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def test_rotate_master_while_serving(rot_server: tuple[Server, str]) -> None:
    server, db_url = rot_server
    key_file = KeyringFile(Path(server.env["QL_DATA_DIR"]) / "master.key")
    old_key = key_file.read().keys[0]
    created = server.cli_json(
        "accounts", "create", "--name", "Vendor", "--email", "v@example.com", "--plan", "business"
    )
    assert isinstance(created, dict)
    admin = bearer(created["api_key"])
    engine = make_engine(db_url, pool_size=1)
    sessions = make_session_factory(engine)
    try:
        with server.client() as http:
            # Secrets of every kind, all sealed under the first master key.
            lic = ok(
                http.post(
                    "/api/v1/licenses/generate",
                    headers=admin,
                    json={
                        "end_customer_id": "c@example.com",
                        "features": ["pro"],
                        "valid_days": 30,
                    },
                ),
                201,
            )

            def license_valid() -> bool:
                body = {"license_key": lic["license_key"], "end_customer_id": "c@example.com"}
                return bool(
                    ok(http.post("/api/v1/licenses/validate", headers=admin, json=body))["valid"]
                )

            assert license_valid()
            enc = ok(
                http.post(
                    "/api/v1/quantum/crypto/encrypt",
                    headers=admin,
                    json={"plaintext": b64(b"before rotation"), "algorithm": "AES-256-GCM"},
                )
            )
            signer = ok(
                http.post("/api/v1/quantum/keys", headers=admin, json={"algorithm": "Ed25519"}), 201
            )
            # With an Idempotency-Key: its stored answer is sealed too.
            idem = {**admin, "Idempotency-Key": "before-rotation"}
            session = ok(http.post("/api/v1/quantum/crypto/key-exchange", headers=idem, json={}))

            def decrypt() -> bytes:
                fields = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}
                out = ok(http.post("/api/v1/quantum/crypto/decrypt", headers=admin, json=fields))
                return base64.b64decode(out["plaintext"])

            before = count_by_key(sessions)
            old_id = key_id(old_key).hex()
            for table in (
                "account_secrets.sealed",
                "signing_keys.sealed_private",
                "quantum_keys.sealed",
                "key_exchange_sessions.sealed",
                "idempotency_records.sealed",
            ):
                assert before[table][old_id] >= 1, (table, before)
            with sessions() as s:
                old_blob = s.scalar(select(QuantumKey.sealed).where(QuantumKey.id == enc["key_id"]))
            assert old_blob is not None

            # Rotate while the server runs.
            report = server.cli_json("keystore", "rotate-master")
            assert isinstance(report, dict)
            ring = key_file.read()
            assert len(ring.keys) == 2 and ring.keys[1] == old_key
            new_key = ring.keys[0]
            new_id = key_id(new_key).hex()
            assert report["current"] == new_id and report["still_under_old_keys"] == 0
            tables = report["tables"]
            assert tables["account_secrets.sealed"]["rewrapped"] >= 1
            assert tables["signing_keys.sealed_private"]["rewrapped"] >= 1
            assert tables["quantum_keys.sealed"]["rewrapped"] >= 2
            assert tables["key_exchange_sessions.sealed"]["rewrapped"] >= 1
            assert tables["idempotency_records.sealed"]["rewrapped"] >= 1
            after = count_by_key(sessions)
            assert all(set(per) <= {new_id} for per in after.values()), after
            replay = http.post("/api/v1/quantum/crypto/key-exchange", headers=idem, json={})
            assert replay.headers["idempotent-replayed"] == "true"
            assert ok(replay) == session
            # The file never holds the key in the blobs; stat: still private.
            assert oct(key_file.path.stat().st_mode & 0o777) == "0o600"

            # The same server, no restart: it opens blobs wrapped under the new key.
            assert decrypt() == b"before rotation"
            local = x25519.X25519PrivateKey.generate()
            done = ok(
                http.post(
                    "/api/v1/quantum/crypto/key-exchange",
                    headers=admin,
                    json={
                        "session_id": session["session_id"],
                        "peer_public_key": b64(local.public_key().public_bytes_raw()),
                    },
                )
            )
            assert done["shared_secret"] is not None
            signed = http.post(
                "/api/v1/quantum/crypto/sign",
                headers=admin,
                json={"message": b64(b"m"), "key_id": signer["key_id"], "algorithm": "Ed25519"},
            )
            assert signed.status_code == 200, signed.text
            assert license_valid()
            # New secrets are sealed under the new key (a new account's licensing secrets).
            other = server.cli_json(
                "accounts", "create", "--name", "Other", "--email", "o@example.com"
            )
            assert isinstance(other, dict)
            ok(
                http.post(
                    "/api/v1/licenses/generate",
                    headers=bearer(other["api_key"]),
                    json={"end_customer_id": "x@example.com", "valid_days": 1},
                ),
                201,
            )
            assert all(set(per) <= {new_id} for per in count_by_key(sessions).values())

            # A blob still under the old key (as if written by a node during the pass):
            # the old key is still needed, so retire-master refuses, and the server opens it.
            with sessions() as s:
                s.execute(
                    update(QuantumKey).where(QuantumKey.id == enc["key_id"]).values(sealed=old_blob)
                )
                s.commit()
            status = server.cli_json("keystore", "status")
            assert isinstance(status, dict)
            assert status["blobs"]["quantum_keys.sealed"].get(old_id) == 1
            refused = server.cli("keystore", "retire-master", check=False)
            assert refused.returncode != 0 and "rewrap-only" in refused.stderr
            assert len(key_file.read().keys) == 2
            assert decrypt() == b"before rotation"
            with pytest.raises(SealingError):
                verify_all(sessions, Sealer(new_key))

            # Re-wrap what is left, then retire: every blob opens with the new key alone.
            again = server.cli_json("keystore", "rotate-master", "--rewrap-only")
            assert isinstance(again, dict)
            assert again["tables"]["quantum_keys.sealed"]["rewrapped"] == 1
            retired = server.cli_json("keystore", "retire-master")
            assert isinstance(retired, dict) and retired["retired"] == [old_id]
            assert key_file.read().keys == (new_key,)
            # The retired key is gone from the file: only the API-key pepper derived from it
            # stays, and that opens nothing.
            assert base64.b64encode(old_key).decode() not in key_file.path.read_text()
            opened = verify_all(sessions, Sealer(new_key))
            assert sum(opened.values()) == sum(
                sum(c.values()) for c in count_by_key(sessions).values()
            )
            with pytest.raises(SealingError):
                verify_all(sessions, Sealer(old_key))
            # Still serving, still without a restart; API keys unchanged.
            assert decrypt() == b"before rotation"
            assert license_valid()
            assert server.process.poll() is None

            # A blob no key of the ring opens is skipped and reported, not fatal to the pass.
            with sessions() as s:
                foreign = Sealer(os.urandom(32)).seal(b"x", key_aad(signer["key_id"], "x", "live"))
                s.execute(
                    update(QuantumKey)
                    .where(QuantumKey.id == signer["key_id"])
                    .values(sealed=foreign)
                )
                s.commit()
            broken = server.cli("keystore", "rotate-master", "--rewrap-only", "--json", check=False)
            assert broken.returncode == 1, broken.stderr
            assert json.loads(broken.stdout)["tables"]["quantum_keys.sealed"]["unreadable"] == 1
            assert server.cli("keystore", "retire-master", check=False).returncode != 0
    finally:
        engine.dispose()
    assert "Traceback" not in server.log_path.read_text()
    assert json.dumps(b64(new_key)) not in server.log_path.read_text()
