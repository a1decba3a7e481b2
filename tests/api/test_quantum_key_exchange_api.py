"""/api/v1/quantum/crypto/key-exchange through the app, checked against pyca directly.

The shared secret is recomputed here from docs/quantum-api.md (HKDF-SHA256 over the
X25519 [and ML-KEM-768] secret, info binding both public values), so these tests also pin
the wire format the SDK and other implementations rely on.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from quantumlock.core.clock import utcnow
from quantumlock.crypto.exchange_repository import KeyExchangeRepository
from quantumlock.crypto.models import KeyExchangeSession, session_aad
from quantumlock.keyring.sealing import Sealer, SealingError
from tests.api.test_auth_api import assert_error, create_key
from tests.api.test_quantum_keys_api import b64, unb64
from tests.conftest import AccountFixture, bearer

KEX = "/api/v1/quantum/crypto/key-exchange"
HYBRID = "X25519-ML-KEM-768"
PUBLIC_LENGTHS = {"X25519": (32, 32), HYBRID: (32 + 1184, 32 + 1088)}


def post(client: TestClient, key: str, **body: Any) -> Any:
    return client.post(KEX, json=body, headers=bearer(key))


def ok(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    resp = post(client, key, **body)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def contract_secret(
    algorithm: str, ikm: bytes, a_public: bytes, b_public: bytes, key_bits: int
) -> bytes:
    info = b"QL-KEX-v1\x00" + algorithm.encode() + b"\x00" + a_public + b_public
    return HKDF(hashes.SHA256(), key_bits // 8, salt=None, info=info).derive(ikm)


class LocalParty:
    """A party computed with pyca here, outside the server."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.x = x25519.X25519PrivateKey.generate()
        self.kem = mlkem.MLKEM768PrivateKey.generate() if algorithm == HYBRID else None

    def public(self) -> bytes:
        own = self.x.public_key().public_bytes_raw()
        return own + (self.kem.public_key().public_bytes_raw() if self.kem else b"")

    def respond(self, a_public: bytes, key_bits: int) -> tuple[bytes, bytes]:
        """As B: (B's public value, the secret)."""
        ikm = self.x.exchange(x25519.X25519PublicKey.from_public_bytes(a_public[:32]))
        b_public = self.x.public_key().public_bytes_raw()
        if self.algorithm == HYBRID:
            kem_secret, ciphertext = mlkem.MLKEM768PublicKey.from_public_bytes(
                a_public[32:]
            ).encapsulate()
            ikm, b_public = ikm + kem_secret, b_public + ciphertext
        return b_public, contract_secret(self.algorithm, ikm, a_public, b_public, key_bits)

    def complete(self, b_public: bytes, key_bits: int) -> bytes:
        """As A: the secret from B's public value."""
        ikm = self.x.exchange(x25519.X25519PublicKey.from_public_bytes(b_public[:32]))
        if self.kem is not None:
            ikm += self.kem.decapsulate(b_public[32:])
        return contract_secret(self.algorithm, ikm, self.public(), b_public, key_bits)


# -- the flow ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["X25519", HYBRID])
def test_two_accounts_derive_the_same_secret(
    client: TestClient, make_account: Any, algorithm: str
) -> None:
    alice, bob = make_account(name="Alice").admin_key, make_account(name="Bob").admin_key
    a_len, b_len = PUBLIC_LENGTHS[algorithm]
    start = ok(client, alice, algorithm=algorithm, key_bits=384)
    assert set(start) == {
        "session_id",
        "public_key",
        "shared_secret",
        "algorithm",
        "key_bits",
        "expires_at",
    }
    assert start["session_id"].startswith("session_") and start["shared_secret"] is None
    assert (start["algorithm"], start["key_bits"]) == (algorithm, 384)
    assert len(unb64(start["public_key"])) == a_len
    assert start["expires_at"].endswith("Z")

    answer = ok(client, bob, algorithm=algorithm, key_bits=384, peer_public_key=start["public_key"])
    assert len(unb64(answer["public_key"])) == b_len
    assert len(unb64(answer["shared_secret"])) == 48
    assert answer["session_id"] != start["session_id"]

    done = ok(
        client,
        alice,
        algorithm=algorithm,
        key_bits=384,
        session_id=start["session_id"],
        peer_public_key=answer["public_key"],
    )
    assert done["shared_secret"] == answer["shared_secret"]
    assert done["session_id"] == start["session_id"]
    assert done["public_key"] == start["public_key"]

    # Spent: a replay is a conflict, for the owner; the responder's session id is spent too.
    again = post(
        client, alice, session_id=start["session_id"], peer_public_key=answer["public_key"],
        algorithm=algorithm, key_bits=384,
    )  # fmt: skip
    assert_error(again, 409, "CONFLICT")
    assert_error(
        post(client, bob, session_id=answer["session_id"], peer_public_key=start["public_key"],
             algorithm=algorithm, key_bits=384),
        409,
        "CONFLICT",
    )  # fmt: skip

    # Fresh key pairs each time: a new exchange gives a new secret.
    start2 = ok(client, alice, algorithm=algorithm, key_bits=384)
    answer2 = ok(
        client, bob, algorithm=algorithm, key_bits=384, peer_public_key=start2["public_key"]
    )
    assert start2["public_key"] != start["public_key"]
    assert answer2["shared_secret"] != answer["shared_secret"]


@pytest.mark.parametrize("algorithm", ["X25519", HYBRID])
@pytest.mark.parametrize("key_bits", [128, 256, 512])
def test_secret_matches_the_contract_both_ways(
    client: TestClient, account: AccountFixture, algorithm: str, key_bits: int
) -> None:
    key = account.admin_key
    # Server initiates, a local party answers: the server's completion is the contract's secret.
    start = ok(client, key, algorithm=algorithm, key_bits=key_bits)
    local = LocalParty(algorithm)
    b_public, expected = local.respond(unb64(start["public_key"]), key_bits)
    done = ok(
        client, key, algorithm=algorithm, key_bits=key_bits, session_id=start["session_id"],
        peer_public_key=b64(b_public),
    )  # fmt: skip
    assert unb64(done["shared_secret"]) == expected and len(expected) == key_bits // 8

    # A local party initiates, the server answers: the local completion agrees.
    local_a = LocalParty(algorithm)
    answer = ok(
        client, key, algorithm=algorithm, key_bits=key_bits, peer_public_key=b64(local_a.public())
    )
    assert unb64(answer["shared_secret"]) == local_a.complete(unb64(answer["public_key"]), key_bits)


def test_swapped_public_value_changes_the_secret(
    client: TestClient, account: AccountFixture
) -> None:
    """A man in the middle substituting B's value: A derives a different secret than B."""
    key = account.admin_key
    start = ok(client, key)
    honest_b = ok(client, key, peer_public_key=start["public_key"])
    mallory = LocalParty("X25519")
    done = ok(client, key, session_id=start["session_id"], peer_public_key=b64(mallory.public()))
    assert done["shared_secret"] != honest_b["shared_secret"]
    # ...and the secret A got is the one Mallory can compute: why public keys need checking.
    _, mallory_secret = mallory.respond(unb64(start["public_key"]), 256)
    assert unb64(done["shared_secret"]) == mallory_secret


def test_concurrent_completions_exactly_one_wins(
    client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    start = ok(client, key)
    local = LocalParty("X25519")
    b_public, expected = local.respond(unb64(start["public_key"]), 256)
    barrier = threading.Barrier(6)

    def complete(_: int) -> Any:
        barrier.wait()
        return post(client, key, session_id=start["session_id"], peer_public_key=b64(b_public))

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(complete, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    assert unb64(winner.json()["shared_secret"]) == expected


# -- what rests in the database ----------------------------------------------------------


def test_private_half_rests_sealed_and_is_dropped_when_spent(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    key = account.admin_key
    start = ok(client, key, algorithm=HYBRID)
    sessions = app.state.runtime.sessions
    sealer: Sealer = app.state.runtime.sealer
    with sessions() as s:
        row = s.get(KeyExchangeSession, start["session_id"])
        assert row is not None and row.sealed is not None and row.completed_at is None
        assert row.account_id == account.id and row.mode == "live"
        private = sealer.open(row.sealed, session_aad(row.id, account.id, "live"))
        assert len(private) == 32 + 64 and private not in row.sealed
        public = x25519.X25519PrivateKey.from_private_bytes(private[:32]).public_key()
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(private[32:])
        assert public.public_bytes_raw() + kem.public_key().public_bytes_raw() == unb64(
            start["public_key"]
        )
        assert row.public_key == unb64(start["public_key"])
        # Bound to its row, account and mode: under any other AAD it does not open.
        for aad in [
            session_aad("session_other", account.id, "live"),
            session_aad(row.id, "cust_other", "live"),
            session_aad(row.id, account.id, "test"),
            b"kex-session:" + row.id.encode(),  # the pre-#16 AAD
        ]:
            with pytest.raises(SealingError):
                sealer.open(row.sealed, aad)

    answer = ok(client, key, algorithm=HYBRID, peer_public_key=start["public_key"])
    ok(client, key, algorithm=HYBRID, session_id=start["session_id"],
       peer_public_key=answer["public_key"])  # fmt: skip
    with sessions() as s:
        spent = s.get(KeyExchangeSession, start["session_id"])
        responder = s.get(KeyExchangeSession, answer["session_id"])
        assert spent is not None and spent.sealed is None and spent.completed_at is not None
        assert responder is not None and responder.sealed is None
        assert responder.completed_at is not None
        assert responder.public_key == unb64(answer["public_key"])


# -- tenants, expiry, replay -------------------------------------------------------------


def test_another_tenants_session_is_not_found(
    client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    start = ok(client, account.admin_key)
    b_public, expected = LocalParty("X25519").respond(unb64(start["public_key"]), 256)
    other = make_account(name="Other Corp").admin_key
    test_mode = create_key(client, account.admin_key, type="test")["key"]
    for intruder in (other, test_mode):
        resp = post(client, intruder, session_id=start["session_id"], peer_public_key=b64(b_public))
        assert_error(resp, 404, "NOT_FOUND")
    # The failed attempts did not spend it: the owner still completes.
    done = ok(
        client, account.admin_key, session_id=start["session_id"], peer_public_key=b64(b_public)
    )
    assert unb64(done["shared_secret"]) == expected
    # The other way round: a test-mode session is invisible to the live key.
    test_start = ok(client, test_mode)
    b2, _ = LocalParty("X25519").respond(unb64(test_start["public_key"]), 256)
    assert_error(
        post(
            client, account.admin_key, session_id=test_start["session_id"], peer_public_key=b64(b2)
        ),
        404,
        "NOT_FOUND",
    )


def test_expired_and_unknown_sessions_are_not_found(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    key = account.admin_key
    start = ok(client, key)
    b_public, _ = LocalParty("X25519").respond(unb64(start["public_key"]), 256)
    with app.state.runtime.unit_of_work() as s:
        s.execute(
            update(KeyExchangeSession)
            .where(KeyExchangeSession.id == start["session_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()
    resp = post(client, key, session_id=start["session_id"], peer_public_key=b64(b_public))
    assert_error(resp, 404, "NOT_FOUND")
    unknown = post(client, key, session_id="session_" + "x" * 24, peer_public_key=b64(b_public))
    assert_error(unknown, 404, "NOT_FOUND")

    # Starting a new exchange purges expired sessions (their sealed halves with them).
    ok(client, key)
    with app.state.runtime.unit_of_work() as s:
        assert s.get(KeyExchangeSession, start["session_id"]) is None


def test_session_lives_ten_minutes(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    before = utcnow()
    start = ok(client, account.admin_key)
    with app.state.runtime.unit_of_work() as s:
        row = s.get(KeyExchangeSession, start["session_id"])
        assert row is not None
        lifetime = row.expires_at.replace(tzinfo=None) - row.created_at.replace(tzinfo=None)
        assert lifetime == timedelta(minutes=10)
        assert row.created_at.replace(tzinfo=None) >= before.replace(tzinfo=None) - timedelta(
            seconds=1
        )


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"algorithm": "X448"},
        {"algorithm": "x25519"},
        {"algorithm": "X25519-ML-KEM-1024"},
        {"key_bits": 120},
        {"key_bits": 130},
        {"key_bits": 520},
        {"key_bits": "lots"},
        {"peer_public_key": "not base64!"},
        {"peer_public_key": b64(bytes(32))[:-1]},  # bad padding
        {"peer_public_key": b64(b"\x09" + bytes(30))},  # 31 bytes
        {"peer_public_key": b64(b"\x09" + bytes(32))},  # 33 bytes
        {"peer_public_key": b64(bytes(32))},  # low order: the all-zero secret
        {"peer_public_key": b64(b"\x09" + bytes(31)), "algorithm": HYBRID},  # X25519-only size
        {"peer_public_key": b64(b"\x09" + bytes(31 + 1183)), "algorithm": HYBRID},  # 1215 bytes
        {"peer_public_key": b64(b"\x09" + bytes(31) + b"\xff" * 1184), "algorithm": HYBRID},
        {"peer_public_key": b64(bytes(5000))},  # far too large
        {"session_id": "session_x"},  # a session but no peer key
        {"colour": "blue"},
    ],
)
def test_bad_requests_are_400(
    client: TestClient, account: AccountFixture, body: dict[str, Any]
) -> None:
    assert_error(post(client, account.admin_key, **body), 400, "VALIDATION_ERROR")


def test_bad_completions_are_400_and_leave_the_session_usable(
    client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    start = ok(client, key, algorithm=HYBRID, key_bits=256)
    sid = start["session_id"]
    local = LocalParty(HYBRID)
    b_public, expected = local.respond(unb64(start["public_key"]), 256)
    for bad in (
        {"peer_public_key": b64(b_public[:32])},  # an X25519-only answer to a hybrid session
        {"peer_public_key": b64(b_public[:-1])},  # one byte short
        {"peer_public_key": b64(bytes(32) + b_public[32:])},  # low-order X25519 part
        {"peer_public_key": "%%%"},
        {"peer_public_key": b64(b_public), "algorithm": "X25519"},  # not the session's
        {"peer_public_key": b64(b_public), "algorithm": HYBRID, "key_bits": 512},
    ):
        assert_error(post(client, key, session_id=sid, **bad), 400, "VALIDATION_ERROR")
    done = ok(client, key, session_id=sid, peer_public_key=b64(b_public), algorithm=HYBRID)
    assert unb64(done["shared_secret"]) == expected
    # Omitting algorithm/key_bits on completion uses the session's own.
    start2 = ok(client, key, algorithm=HYBRID, key_bits=512)
    b2, expected2 = LocalParty(HYBRID).respond(unb64(start2["public_key"]), 512)
    done2 = ok(client, key, session_id=start2["session_id"], peer_public_key=b64(b2))
    assert (done2["algorithm"], done2["key_bits"]) == (HYBRID, 512)
    assert unb64(done2["shared_secret"]) == expected2


def test_scope_and_auth(client: TestClient, account: AccountFixture) -> None:
    keys_only = create_key(client, account.admin_key, scopes=["quantum:keys"])["key"]
    crypto_only = create_key(client, account.admin_key, scopes=["quantum:crypto"])["key"]
    assert_error(post(client, keys_only), 403, "INSUFFICIENT_SCOPE")
    assert ok(client, crypto_only)["session_id"].startswith("session_")
    assert_error(client.post(KEX, json={}), 401, "UNAUTHORIZED")


def test_two_readers_of_an_open_session_cannot_both_spend_it(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """The conditional UPDATE itself: both transactions saw the session open; one wins."""
    start = ok(client, account.admin_key)
    sid = start["session_id"]
    sessions = app.state.runtime.sessions
    with sessions() as first, sessions() as second:
        a, b = KeyExchangeRepository(first), KeyExchangeRepository(second)
        seen_a, seen_b = a.get(sid, account.id, "live"), b.get(sid, account.id, "live")
        assert seen_a is not None and seen_b is not None
        assert seen_a.completed_at is None and seen_b.completed_at is None
        assert a.spend(sid, account.id, "live", utcnow()) is True
        first.commit()
        assert b.spend(sid, account.id, "live", utcnow()) is False
        second.rollback()
        # Wrong tenant or mode, or an expired session, is never spent.
        assert a.spend(sid, account.id, "test", utcnow()) is False
        first.rollback()
    other = ok(client, account.admin_key)["session_id"]
    with sessions() as s:
        repo = KeyExchangeRepository(s)
        assert repo.spend(other, account.id, "test", utcnow()) is False
        assert repo.spend(other, "acct_nobody", "live", utcnow()) is False
        assert repo.spend(other, account.id, "live", utcnow() + timedelta(minutes=11)) is False
        assert repo.spend(other, account.id, "live", utcnow()) is True
        s.commit()
