"""The keystore through the app: shapes, material sealed at rest, lifecycle, tenants, import."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.crypto.models import QuantumKey, key_aad
from quantumlock.keyring.sealing import Sealer, SealingError
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import AccountFixture, bearer

KEYS = "/api/v1/quantum/keys"
RSA_URL = "/api/v1/quantum/rsa"
KEY_FIELDS = {
    "key_id",
    "algorithm",
    "type",
    "source",
    "security_level",
    "quantum_verified",
    "version",
    "exportable",
    "public_key",
    "created_at",
    "default_for",
}
# algorithm -> (id prefix, type, exported length)
EXPECTED = {
    "AES-256-GCM": ("key_quantum_", "symmetric", 32),
    "ChaCha20-Poly1305": ("key_quantum_", "symmetric", 32),
    "Ed25519": ("key_sign_", "signing", 32),
    "ML-DSA-65": ("key_sign_", "signing", 32),
    "Ed25519+ML-DSA-65": ("key_sign_", "signing", 64),
    "X25519": ("key_kex_", "key_agreement", 32),
}

HONEST_LABELS = {
    ("qcos_api", "QUANTUM_SECURED"),
    ("qcos_api", "QUANTUM_SIMULATED"),
    ("qiskit_local", "QUANTUM_SIMULATED"),
    ("cryptographic", "CRYPTOGRAPHIC"),
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def new_key(client: TestClient, api_key: str, algorithm: str, **body: Any) -> dict[str, Any]:
    resp = client.post(KEYS, json={"algorithm": algorithm, **body}, headers=bearer(api_key))
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def pem(public: Any) -> str:
    return public.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_pem_from_export(algorithm: str, material: bytes) -> str:
    """What the exported material's public half is, computed here with pyca directly."""
    if algorithm == "Ed25519":
        return pem(ed25519.Ed25519PrivateKey.from_private_bytes(material).public_key())
    if algorithm == "ML-DSA-65":
        return pem(mldsa.MLDSA65PrivateKey.from_seed_bytes(material).public_key())
    if algorithm == "X25519":
        return pem(x25519.X25519PrivateKey.from_private_bytes(material).public_key())
    assert algorithm == "Ed25519+ML-DSA-65"
    return public_pem_from_export("Ed25519", material[:32]) + public_pem_from_export(
        "ML-DSA-65", material[32:]
    )


@pytest.mark.parametrize("algorithm", list(EXPECTED))
def test_create_each_algorithm(client: TestClient, account: AccountFixture, algorithm: str) -> None:
    prefix, kind, length = EXPECTED[algorithm]
    body = new_key(client, account.admin_key, algorithm, exportable=True, source="cryptographic")
    assert set(body) == KEY_FIELDS | {"key"}
    assert re.fullmatch(re.escape(prefix) + r"[0-9A-Za-z]{24}", body["key_id"])
    assert body["algorithm"] == algorithm and body["type"] == kind
    assert body["source"] == "cryptographic"
    assert body["security_level"] == "CRYPTOGRAPHIC"
    assert body["quantum_verified"] is False
    assert body["version"] == 1 and body["exportable"] is True
    assert body["created_at"].endswith("Z")
    material = unb64(body["key"])
    assert len(material) == length
    if kind == "symmetric":
        assert body["public_key"] is None
    else:
        assert body["public_key"] == public_pem_from_export(algorithm, material)

    # Not exportable: the material never leaves, not even in the creation response.
    hidden = new_key(client, account.admin_key, algorithm)
    assert hidden["key"] is None and hidden["exportable"] is False
    assert hidden["key_id"] != body["key_id"]
    # No source asked: whichever source served the draw is reported, honestly labelled.
    assert (hidden["source"], hidden["security_level"]) in HONEST_LABELS
    assert hidden["quantum_verified"] is False  # no hardware source in tests


def test_rsa_keys(client: TestClient, account: AccountFixture) -> None:
    resp = client.post(
        RSA_URL, json={"bits": 2048, "exportable": True}, headers=bearer(account.admin_key)
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == KEY_FIELDS | {"key", "bits"}
    assert re.fullmatch(r"key_rsa_[0-9A-Za-z]{24}", body["key_id"])
    assert (body["algorithm"], body["type"], body["bits"]) == ("RSA", "rsa", 2048)
    private = serialization.load_der_private_key(unb64(body["key"]), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    assert private.public_key().public_numbers().e == 65537
    assert pem(private.public_key()) == body["public_key"]

    default = client.post(RSA_URL, json={}, headers=bearer(account.admin_key)).json()
    assert default["bits"] == 3072 and default["key"] is None
    public = serialization.load_pem_public_key(default["public_key"].encode())
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072

    for bad in ({"bits": 1024}, {"bits": "3072x"}, {"bits": 3072, "extra": 1}):
        assert_error(
            client.post(RSA_URL, json=bad, headers=bearer(account.admin_key)),
            400,
            "VALIDATION_ERROR",
        )


def test_material_rests_sealed_under_the_master_key(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    a = new_key(client, account.admin_key, "AES-256-GCM", exportable=True)
    b = new_key(client, account.admin_key, "AES-256-GCM")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        row_a = session.get(QuantumKey, a["key_id"])
        row_b = session.get(QuantumKey, b["key_id"])
        assert row_a is not None and row_b is not None
        sealed_a, sealed_b = row_a.sealed, row_b.sealed
    assert sealed_a is not None and sealed_b is not None
    material = unb64(a["key"])
    assert material not in sealed_a
    sealer: Sealer = runtime.sealer
    assert sealer.open(sealed_a, key_aad(a["key_id"], account.id, "live")) == material
    # Bound to its row: a blob copied onto another key id, account or mode does not open.
    for aad in [
        key_aad(b["key_id"], account.id, "live"),
        key_aad(a["key_id"], "cust_other", "live"),
        key_aad(a["key_id"], account.id, "test"),
    ]:
        with pytest.raises(SealingError):
            sealer.open(sealed_a, aad)


def test_sealed_key_moved_to_another_tenant_does_not_open(
    client: TestClient, app: FastAPI, account: AccountFixture, make_account: Any
) -> None:
    """#16 finding 15: the AAD names the account and mode, so a sealed row handed to another
    tenant (account_id changed, or its blob copied onto the other tenant's key) does not
    open: a clear 409, never the material and never a 500."""
    other = make_account()
    a = new_key(client, account.admin_key, "AES-256-GCM")
    b = new_key(client, other.admin_key, "AES-256-GCM")
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        row_a = session.get(QuantumKey, a["key_id"])
        row_b = session.get(QuantumKey, b["key_id"])
        assert row_a is not None and row_b is not None
        row_b.sealed = row_a.sealed  # A's material onto B's key
        moved = new_key(client, account.admin_key, "AES-256-GCM")["key_id"]
        row_m = session.get(QuantumKey, moved)
        assert row_m is not None
        row_m.account_id = other.id  # a whole row handed to B
        session.commit()
    plaintext = base64.b64encode(b"secret").decode()
    for key_id in (b["key_id"], moved):
        resp = client.post(
            "/api/v1/quantum/crypto/encrypt",
            json={"plaintext": plaintext, "key_id": key_id},
            headers=bearer(other.admin_key),
        )
        body = assert_error(resp, 409, "CONFLICT")
        assert "cannot be opened" in body["detail"]


def test_list_get_and_destroy(client: TestClient, app: FastAPI, account: AccountFixture) -> None:
    headers = bearer(account.admin_key)
    made = [new_key(client, account.admin_key, alg)["key_id"] for alg in EXPECTED]
    page = client.get(KEYS, headers=headers).json()
    assert set(page) == {"keys", "total", "skip", "limit"}
    assert page["total"] == len(made) and (page["skip"], page["limit"]) == (0, 100)
    assert [k["key_id"] for k in page["keys"]] == list(reversed(made))  # newest first
    assert all(set(k) == KEY_FIELDS for k in page["keys"])  # never material
    second = client.get(KEYS, params={"skip": 1, "limit": 2}, headers=headers).json()
    assert [k["key_id"] for k in second["keys"]] == list(reversed(made))[1:3]
    assert second["total"] == len(made)
    for bad in ({"limit": 0}, {"limit": 1001}, {"skip": -1}):
        assert_error(client.get(KEYS, params=bad, headers=headers), 400, "VALIDATION_ERROR")

    victim = made[2]
    got = client.get(f"{KEYS}/{victim}", headers=headers)
    assert got.status_code == 200 and set(got.json()) == KEY_FIELDS

    deleted = client.delete(f"{KEYS}/{victim}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(client.get(f"{KEYS}/{victim}", headers=headers), 404, "NOT_FOUND")
    assert_error(client.delete(f"{KEYS}/{victim}", headers=headers), 404, "NOT_FOUND")
    after = client.get(KEYS, headers=headers).json()
    assert after["total"] == len(made) - 1
    assert victim not in {k["key_id"] for k in after["keys"]}

    me = client.get("/api/v2/me", headers=headers).json()["data"]
    with app.state.runtime.unit_of_work() as session:
        row = session.get(QuantumKey, victim)
        assert row is not None
        assert row.sealed is None  # the material is gone
        assert row.destroyed_at is not None
        assert row.destroyed_by == me["key_id"]


def test_other_tenants_keys_are_not_found(
    client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    mine = new_key(client, account.admin_key, "AES-256-GCM")["key_id"]
    other = make_account(name="Other Corp")
    test_key = create_key(client, account.admin_key, type="test")["key"]
    for intruder in (other.admin_key, test_key):
        headers = bearer(intruder)
        assert_error(client.get(f"{KEYS}/{mine}", headers=headers), 404, "NOT_FOUND")
        assert_error(client.delete(f"{KEYS}/{mine}", headers=headers), 404, "NOT_FOUND")
        assert client.get(KEYS, headers=headers).json()["total"] == 0
    # Still there for its owner: the failed deletes did nothing.
    assert client.get(f"{KEYS}/{mine}", headers=bearer(account.admin_key)).status_code == 200
    # A test-mode key's own keys are invisible to live keys too.
    test_made = new_key(client, test_key, "Ed25519")["key_id"]
    assert_error(
        client.get(f"{KEYS}/{test_made}", headers=bearer(account.admin_key)), 404, "NOT_FOUND"
    )


def test_import_own_material(client: TestClient, account: AccountFixture) -> None:
    material = bytes(range(32))
    body = new_key(client, account.admin_key, "AES-256-GCM", key=b64(material), exportable=False)
    assert (body["source"], body["security_level"], body["quantum_verified"]) == (
        "imported",
        "CRYPTOGRAPHIC",
        False,
    )
    assert body["key"] is None
    # The imported key is the one the service encrypts with.
    enc = client.post(
        "/api/v1/quantum/crypto/encrypt",
        json={"plaintext": b64(b"imported"), "key_id": body["key_id"]},
        headers=bearer(account.admin_key),
    ).json()
    plain = AESGCM(material).decrypt(
        unb64(enc["iv"]), unb64(enc["ciphertext"]) + unb64(enc["tag"]), None
    )
    assert plain == b"imported"

    headers = bearer(account.admin_key)
    for bad in (
        {"algorithm": "AES-256-GCM", "key": b64(bytes(31))},
        {"algorithm": "Ed25519+ML-DSA-65", "key": b64(bytes(32))},
        {"algorithm": "Ed25519", "key": "not base64!"},
        {"algorithm": "Ed25519", "key": b64(bytes(32))[:-1]},  # bad padding
        {"algorithm": "Ed25519", "key": b64(bytes(32)), "source": "cryptographic"},
    ):
        assert_error(client.post(KEYS, json=bad, headers=headers), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        {"algorithm": "AES-128-GCM"},
        {"algorithm": "RSA"},
        {},
        {"algorithm": "Ed25519", "source": "dice"},
        {"algorithm": "Ed25519", "exportable": "maybe"},
        {"algorithm": "Ed25519", "colour": "blue"},
    ],
)
def test_bad_create_requests(
    client: TestClient, account: AccountFixture, body: dict[str, Any]
) -> None:
    resp = client.post(KEYS, json=body, headers=bearer(account.admin_key))
    assert_error(resp, 400, "VALIDATION_ERROR")


def test_forced_unavailable_source_is_503(client: TestClient, account: AccountFixture) -> None:
    # No QCOS API is configured in tests, so forcing it cannot be honoured.
    headers = bearer(account.admin_key)
    resp = client.post(KEYS, json={"algorithm": "Ed25519", "source": "qcos_api"}, headers=headers)
    assert_error(resp, 503, "QUANTUM_UNAVAILABLE")
    resp = client.post(RSA_URL, json={"bits": 2048, "source": "qcos_api"}, headers=headers)
    assert_error(resp, 503, "QUANTUM_UNAVAILABLE")
    assert client.get(KEYS, headers=headers).json()["total"] == 0


def test_scopes(client: TestClient, account: AccountFixture) -> None:
    crypto_only = create_key(client, account.admin_key, scopes=["quantum:crypto"])["key"]
    keys_only = create_key(client, account.admin_key, scopes=["quantum:keys"])["key"]
    assert_error(
        client.post(KEYS, json={"algorithm": "Ed25519"}, headers=bearer(crypto_only)),
        403,
        "INSUFFICIENT_SCOPE",
    )
    assert_error(client.get(KEYS, headers=bearer(crypto_only)), 403, "INSUFFICIENT_SCOPE")
    assert new_key(client, keys_only, "Ed25519")["type"] == "signing"
    assert_error(
        client.post(
            "/api/v1/quantum/crypto/encrypt",
            json={"plaintext": b64(b"x")},
            headers=bearer(keys_only),
        ),
        403,
        "INSUFFICIENT_SCOPE",
    )
    assert_error(client.get(KEYS), 401, "UNAUTHORIZED")


def test_legacy_blobs_are_resealed_once_to_their_owner(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    """Blobs sealed before #16 (AAD = key id only) are moved once, by `init`'s
    `reseal_legacy`, to the AAD naming account and mode; nothing opens them the old way."""
    from quantumlock.crypto.models import legacy_key_aad
    from quantumlock.keyring.rewrap import reseal_legacy

    made = new_key(client, account.admin_key, "AES-256-GCM", exportable=True)
    runtime = app.state.runtime
    sealer: Sealer = runtime.sealer
    material = unb64(made["key"])
    with runtime.unit_of_work() as session:
        row = session.get(QuantumKey, made["key_id"])
        assert row is not None
        row.sealed = sealer.seal(material, legacy_key_aad(row.id))  # as an old release did
        session.commit()
    plaintext = base64.b64encode(b"hi").decode()
    enc = "/api/v1/quantum/crypto/encrypt"
    body = {"plaintext": plaintext, "key_id": made["key_id"]}
    assert client.post(enc, json=body, headers=bearer(account.admin_key)).status_code == 409
    assert reseal_legacy(runtime.sessions, sealer) == 1
    assert reseal_legacy(runtime.sessions, sealer) == 0  # once
    with runtime.unit_of_work() as session:
        row = session.get(QuantumKey, made["key_id"])
        assert row is not None and row.sealed is not None
        assert sealer.open(row.sealed, key_aad(row.id, account.id, "live")) == material
    assert client.post(enc, json=body, headers=bearer(account.admin_key)).status_code == 200
