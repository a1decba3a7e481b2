"""Encrypt/decrypt and sign/verify through the app, checked against pyca directly."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.settings import Settings
from tests.api.test_auth_api import assert_error
from tests.api.test_quantum_keys_api import KEYS, RSA_URL, b64, new_key, unb64
from tests.conftest import AccountFixture, bearer

ENC = "/api/v1/quantum/crypto/encrypt"
DEC = "/api/v1/quantum/crypto/decrypt"
SIGN = "/api/v1/quantum/crypto/sign"
VERIFY = "/api/v1/quantum/crypto/verify"
MIB = 1024 * 1024
SIGNATURE_ALGORITHMS = ["SHA3-512-RSA", "Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65"]


def post(client: TestClient, url: str, key: str, **body: Any) -> Any:
    return client.post(url, json=body, headers=bearer(key))


def ok(client: TestClient, url: str, key: str, **body: Any) -> dict[str, Any]:
    resp = post(client, url, key, **body)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def signed_bytes(algorithm: str, nonce_hex: str, message: bytes) -> bytes:
    """The contract's signed bytes, rebuilt here from docs/quantum-api.md."""
    return b"QL-SIGN-v1\x00" + algorithm.encode() + b"\x00" + bytes.fromhex(nonce_hex) + message


# -- AEAD --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["AES-256-GCM", "ChaCha20-Poly1305"])
def test_encrypt_then_decrypt(client: TestClient, account: AccountFixture, algorithm: str) -> None:
    key = account.admin_key
    plaintext, aad = b"Hello World!" * 3, b"header"
    enc = ok(client, ENC, key, plaintext=b64(plaintext), algorithm=algorithm, aad=b64(aad))
    assert set(enc) == {
        "ciphertext",
        "key_id",
        "iv",
        "tag",
        "algorithm",
        "quantum_secured",
        "key_version",
    }
    assert enc["algorithm"] == algorithm and enc["key_version"] == 1
    assert enc["quantum_secured"] is False
    assert re.fullmatch(r"key_quantum_[0-9A-Za-z]{24}", enc["key_id"])
    assert len(unb64(enc["iv"])) == 12 and len(unb64(enc["tag"])) == 16
    assert len(unb64(enc["ciphertext"])) == len(plaintext) and unb64(enc["ciphertext"]) != plaintext

    # key_id null made a non-exportable key of that algorithm, listed in the keystore.
    made = client.get(f"{KEYS}/{enc['key_id']}", headers=bearer(key)).json()
    assert (made["algorithm"], made["exportable"]) == (algorithm, False)

    fields = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}
    dec = ok(client, DEC, key, **fields, aad=b64(aad))
    assert dec == {"plaintext": b64(plaintext), "key_id": enc["key_id"], "algorithm": algorithm}

    # Same key, same plaintext: a fresh IV every time.
    again = ok(
        client, ENC, key, plaintext=b64(plaintext), key_id=enc["key_id"], algorithm=algorithm
    )
    assert again["iv"] != enc["iv"] and again["ciphertext"] != enc["ciphertext"]
    assert ok(client, DEC, key, **{k: again[k] for k in fields})["plaintext"] == b64(plaintext)


def test_encrypted_with_the_key_exported(client: TestClient, account: AccountFixture) -> None:
    """The ciphertext is plain AES-256-GCM under the key: a third party can open it."""
    made = new_key(client, account.admin_key, "AES-256-GCM", exportable=True)
    enc = ok(client, ENC, account.admin_key, plaintext=b64(b""), key_id=made["key_id"])
    opened = AESGCM(unb64(made["key"])).decrypt(unb64(enc["iv"]), unb64(enc["tag"]), None)
    assert opened == b""


def test_every_decryption_failure_is_one_answer(
    client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    enc = ok(client, ENC, key, plaintext=b64(b"secret data"), aad=b64(b"ctx"))
    other = new_key(client, key, "AES-256-GCM")["key_id"]  # same algorithm, other key

    def flip(text: str) -> str:
        raw = bytearray(unb64(text))
        raw[0] ^= 1
        return b64(bytes(raw))

    good = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")} | {"aad": b64(b"ctx")}
    assert ok(client, DEC, key, **good)["plaintext"] == b64(b"secret data")
    details = set()
    for change in (
        {"tag": flip(enc["tag"])},
        {"iv": flip(enc["iv"])},
        {"ciphertext": flip(enc["ciphertext"])},
        {"aad": b64(b"other")},
        {"aad": None},
        {"key_id": other},
    ):
        body = assert_error(post(client, DEC, key, **(good | change)), 400, "DECRYPTION_FAILED")
        details.add(body["detail"])
    assert len(details) == 1


def test_keys_of_the_wrong_kind(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    signing = new_key(client, key, "Ed25519")["key_id"]
    chacha = new_key(client, key, "ChaCha20-Poly1305")["key_id"]
    zeros = {"ciphertext": "", "iv": b64(bytes(12)), "tag": b64(bytes(16))}
    cases = [
        (ENC, {"plaintext": b64(b"x"), "key_id": signing}),
        (ENC, {"plaintext": b64(b"x"), "key_id": chacha, "algorithm": "AES-256-GCM"}),
        (DEC, {**zeros, "key_id": signing}),
        (DEC, {**zeros, "key_id": chacha, "algorithm": "AES-256-GCM"}),
        (SIGN, {"message": b64(b"x"), "key_id": chacha, "algorithm": "Ed25519"}),
        (SIGN, {"message": b64(b"x"), "key_id": signing, "algorithm": "ML-DSA-65"}),
        (SIGN, {"message": b64(b"x"), "key_id": signing, "algorithm": "SHA3-512-RSA"}),
    ]
    for url, body in cases:
        assert_error(post(client, url, key, **body), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (ENC, {"plaintext": "SGVsbG8"}),  # missing padding
        (ENC, {"plaintext": "SGVs bG8="}),  # whitespace
        (ENC, {"plaintext": "SGVsbG8*"}),  # not the alphabet
        (ENC, {"plaintext": "SGVsbG8=", "aad": "%%%%"}),
        (ENC, {"plaintext": "SGVsbG8=", "algorithm": "AES-128-CBC"}),
        (ENC, {"plaintext": "SGVsbG8=", "algorithm": "SHA3-512-RSA"}),
        (ENC, {}),
        (DEC, {"ciphertext": "", "key_id": "k", "iv": b64(bytes(11)), "tag": b64(bytes(16))}),
        (DEC, {"ciphertext": "", "key_id": "k", "iv": b64(bytes(12)), "tag": b64(bytes(15))}),
        (DEC, {"ciphertext": "", "key_id": "k", "iv": b64(bytes(12))}),
        (SIGN, {"message": "SGVsbG8=", "algorithm": "RSA-PKCS1"}),
        (SIGN, {"message": "@@"}),
        (VERIFY, {"message": "", "signature": "", "algorithm": "Ed25519"}),  # no key
    ],
)
def test_malformed_requests(
    client: TestClient, account: AccountFixture, url: str, body: dict[str, Any]
) -> None:
    assert_error(post(client, url, account.admin_key, **body), 400, "VALIDATION_ERROR")


def test_size_limits(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    made = new_key(client, key, "AES-256-GCM")["key_id"]
    enc = ok(client, ENC, key, plaintext=b64(bytes(MIB)), key_id=made)
    assert len(unb64(enc["ciphertext"])) == MIB
    too_big = b64(bytes(MIB + 1))
    assert_error(post(client, ENC, key, plaintext=too_big, key_id=made), 400, "VALIDATION_ERROR")
    assert_error(
        post(client, ENC, key, plaintext="", key_id=made, aad=b64(bytes(64 * 1024 + 1))),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        post(client, SIGN, key, message=too_big, algorithm="Ed25519"), 400, "VALIDATION_ERROR"
    )


# -- signatures ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS)
def test_sign_then_verify(client: TestClient, account: AccountFixture, algorithm: str) -> None:
    key = account.admin_key
    message = b"message to sign"
    signed = ok(client, SIGN, key, message=b64(message), algorithm=algorithm)
    assert set(signed) == {"signature", "key_id", "public_key", "algorithm", "quantum_nonce"}
    assert signed["algorithm"] == algorithm
    prefix = "key_rsa_" if algorithm == "SHA3-512-RSA" else "key_sign_"
    assert signed["key_id"].startswith(prefix)
    assert re.fullmatch(r"[0-9a-f]{32}", signed["quantum_nonce"])

    # The signature is over the contract's bytes, checked here with pyca directly.
    data = signed_bytes(algorithm, signed["quantum_nonce"], message)
    signature = unb64(signed["signature"])
    blocks = re.findall(
        r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----\n", signed["public_key"], re.S
    )
    publics = [serialization.load_pem_public_key(b.encode()) for b in blocks]
    if algorithm == "Ed25519+ML-DSA-65":
        ed, ml = publics
        assert isinstance(ed, ed25519.Ed25519PublicKey)
        assert isinstance(ml, mldsa.MLDSA65PublicKey)
        assert len(signature) == 64 + 3309
        ed.verify(signature[:64], data)
        ml.verify(signature[64:], data)
    elif algorithm == "SHA3-512-RSA":
        (public,) = publics
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
        assert pss_sha3_512_valid(public, data, signature)
    else:
        (public,) = publics
        # Ed25519 or ML-DSA-65 here: both verify(signature, data).
        cast(ed25519.Ed25519PublicKey | mldsa.MLDSA65PublicKey, public).verify(signature, data)

    base = {"message": b64(message), "signature": signed["signature"], "algorithm": algorithm}
    nonce = signed["quantum_nonce"]
    by_id = ok(client, VERIFY, key, **base, quantum_nonce=nonce, key_id=signed["key_id"])
    assert by_id == {"valid": True, "algorithm": algorithm, "key_id": signed["key_id"]}
    by_pem = ok(client, VERIFY, key, **base, quantum_nonce=nonce, public_key=signed["public_key"])
    assert by_pem == {"valid": True, "algorithm": algorithm, "key_id": None}

    other_nonce = f"{int(nonce, 16) ^ 1:032x}"
    for change in (
        {"message": b64(message + b"!")},
        {"quantum_nonce": other_nonce},
        {"quantum_nonce": None},  # unbound verification of a bound signature
    ):
        body = base | {"quantum_nonce": nonce, "key_id": signed["key_id"]} | change
        assert ok(client, VERIFY, key, **body)["valid"] is False

    # Replay protection: signing the same message again binds a fresh nonce.
    again = ok(
        client, SIGN, key, message=b64(message), algorithm=algorithm, key_id=signed["key_id"]
    )
    assert again["quantum_nonce"] != nonce and again["key_id"] == signed["key_id"]


def test_hybrid_needs_both_halves(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    signed = ok(client, SIGN, key, message=b64(b"m"), algorithm="Ed25519+ML-DSA-65")
    signature = unb64(signed["signature"])
    base = {
        "message": b64(b"m"),
        "algorithm": "Ed25519+ML-DSA-65",
        "quantum_nonce": signed["quantum_nonce"],
        "key_id": signed["key_id"],
    }
    for position in (0, 64 + 100):  # inside the Ed25519 half, then the ML-DSA-65 half
        broken = bytearray(signature)
        broken[position] ^= 0x01
        assert ok(client, VERIFY, key, **base, signature=b64(bytes(broken)))["valid"] is False
    assert ok(client, VERIFY, key, **base, signature=b64(signature[:64]))["valid"] is False
    assert ok(client, VERIFY, key, **base, signature=signed["signature"])["valid"] is True


def test_rsa_keys_sign_with_sha3_512_pss(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    made = client.post(RSA_URL, json={"bits": 2048}, headers=bearer(key)).json()
    signed = ok(client, SIGN, key, message=b64(b"rsa"), key_id=made["key_id"])
    assert signed["algorithm"] == "SHA3-512-RSA" and signed["public_key"] == made["public_key"]
    public = serialization.load_pem_public_key(made["public_key"].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    data = signed_bytes("SHA3-512-RSA", signed["quantum_nonce"], b"rsa")
    assert pss_sha3_512_valid(public, data, unb64(signed["signature"]))
    assert not pss_sha3_512_valid(public, data + b"x", unb64(signed["signature"]))
    # An RSA key is no Ed25519 key.
    assert_error(
        post(client, SIGN, key, message=b64(b"x"), key_id=made["key_id"], algorithm="Ed25519"),
        400,
        "VALIDATION_ERROR",
    )


def test_verify_input_errors(client: TestClient, account: AccountFixture) -> None:
    key = account.admin_key
    signed = ok(client, SIGN, key, message=b64(b"m"), algorithm="Ed25519")
    base = {"message": b64(b"m"), "signature": signed["signature"], "algorithm": "Ed25519"}
    rsa_pem = client.post(RSA_URL, json={"bits": 2048}, headers=bearer(key)).json()["public_key"]
    for extra in (
        {"key_id": signed["key_id"], "public_key": signed["public_key"]},  # both
        {"public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"},
        {"public_key": "hello"},
        {"public_key": rsa_pem},  # an RSA key for an Ed25519 signature
        {"key_id": signed["key_id"], "quantum_nonce": "xyz"},
        {"key_id": signed["key_id"], "quantum_nonce": "ab" * 15},
        {"key_id": signed["key_id"], "context": b64(b"ctx")},  # context is ML-DSA only
        {"key_id": signed["key_id"], "signature": "!!"},
        {"key_id": signed["key_id"], "algorithm": "SHA3-512-RSA"},
    ):
        assert_error(post(client, VERIFY, key, **(base | extra)), 400, "VALIDATION_ERROR")
    # A signature of the wrong length is just not valid.
    short = base | {"key_id": signed["key_id"], "signature": b64(b"\x00" * 10)}
    assert ok(client, VERIFY, key, **short)["valid"] is False


def test_other_tenants_keys_cannot_be_used(
    client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    owner = account.admin_key
    enc = ok(client, ENC, owner, plaintext=b64(b"mine"))
    signed = ok(client, SIGN, owner, message=b64(b"mine"), algorithm="Ed25519")
    intruder = make_account(name="Mallory Inc").admin_key
    checks = [
        (ENC, {"plaintext": b64(b"x"), "key_id": enc["key_id"]}),
        (DEC, {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}),
        (SIGN, {"message": b64(b"x"), "key_id": signed["key_id"], "algorithm": "Ed25519"}),
        (
            VERIFY,
            {
                "message": b64(b"mine"),
                "signature": signed["signature"],
                "quantum_nonce": signed["quantum_nonce"],
                "algorithm": "Ed25519",
                "key_id": signed["key_id"],
            },
        ),
    ]
    for url, body in checks:
        assert_error(post(client, url, intruder, **body), 404, "NOT_FOUND")
    # Destroyed keys are gone for their owner too.
    assert client.delete(f"{KEYS}/{enc['key_id']}", headers=bearer(owner)).status_code == 204
    assert_error(post(client, DEC, owner, **checks[1][1]), 404, "NOT_FOUND")


# -- an independent RSASSA-PSS check -----------------------------------------------------


def pss_sha3_512_valid(public: rsa.RSAPublicKey, message: bytes, signature: bytes) -> bool:
    """EMSA-PSS-VERIFY (RFC 8017 9.1.2) with SHA3-512, MGF1-SHA3-512 and a 64-byte salt,
    written out here with hashlib and integers so the check does not lean on pyca."""
    numbers = public.public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em_bits = numbers.n.bit_length() - 1
    em_len = (em_bits + 7) // 8
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(em_len, "big")
    h_len = s_len = 64
    m_hash = hashlib.sha3_512(message).digest()
    if em[-1] != 0xBC or em_len < h_len + s_len + 2:
        return False
    masked_db, h = em[: em_len - h_len - 1], em[em_len - h_len - 1 : -1]
    zero_bits = 8 * em_len - em_bits
    if zero_bits and masked_db[0] >> (8 - zero_bits):
        return False
    mask = b"".join(
        hashlib.sha3_512(h + i.to_bytes(4, "big")).digest()
        for i in range(-(-len(masked_db) // h_len))
    )
    db = bytearray(a ^ b for a, b in zip(masked_db, mask, strict=False))
    db[0] &= 0xFF >> zero_bits
    pad = em_len - h_len - s_len - 2
    if any(db[:pad]) or db[pad] != 0x01:
        return False
    salt = bytes(db[-s_len:])
    return hashlib.sha3_512(b"\x00" * 8 + m_hash + salt).digest() == h


def test_a_given_key_decides_the_algorithm_when_none_is_named(
    client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    chacha = new_key(client, key, "ChaCha20-Poly1305")["key_id"]
    enc = ok(client, ENC, key, plaintext=b64(b"x"), key_id=chacha)
    assert enc["algorithm"] == "ChaCha20-Poly1305"
    fields = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}
    assert unb64(ok(client, DEC, key, **fields)["plaintext"]) == b"x"
    assert ok(client, ENC, key, plaintext=b64(b"x"))["algorithm"] == "AES-256-GCM"
    signer = new_key(client, key, "Ed25519")["key_id"]
    sig = ok(client, SIGN, key, message=b64(b"m"), key_id=signer)
    assert sig["algorithm"] == "Ed25519"
    verified = ok(
        client, VERIFY, key, message=b64(b"m"), signature=sig["signature"],
        quantum_nonce=sig["quantum_nonce"], algorithm="Ed25519", key_id=signer,
    )  # fmt: skip
    assert verified["valid"] is True
    # Naming another algorithm for the key is still refused.
    wrong = post(client, ENC, key, plaintext=b64(b"x"), key_id=chacha, algorithm="AES-256-GCM")
    assert_error(wrong, 400, "VALIDATION_ERROR")


def test_a_destroyed_key_stops_working_at_once_though_it_was_cached(
    client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    kid = new_key(client, key, "AES-256-GCM")["key_id"]
    enc = ok(client, ENC, key, plaintext=b64(b"cached"), key_id=kid)  # now in the cache
    again = ok(client, ENC, key, plaintext=b64(b"cached"), key_id=kid)  # served from it
    assert again["iv"] != enc["iv"]
    assert client.delete(f"/api/v1/quantum/keys/{kid}", headers=bearer(key)).status_code == 204
    assert_error(post(client, ENC, key, plaintext=b64(b"x"), key_id=kid), 404, "NOT_FOUND")
    fields = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}
    assert_error(post(client, DEC, key, **fields), 404, "NOT_FOUND")


def test_a_key_destroyed_through_another_node_leaves_this_nodes_cache_within_a_second(
    settings: Settings, client: TestClient, account: AccountFixture
) -> None:
    key = account.admin_key
    kid = new_key(client, key, "ChaCha20-Poly1305")["key_id"]
    ok(client, ENC, key, plaintext=b64(b"x"), key_id=kid)  # cached on this node
    with TestClient(create_app(settings)) as other:
        assert other.delete(f"/api/v1/quantum/keys/{kid}", headers=bearer(key)).status_code == 204
    started = time.monotonic()
    while post(client, ENC, key, plaintext=b64(b"x"), key_id=kid).status_code == 200:
        assert time.monotonic() - started < 1.0, "the destroyed key still encrypts"
        time.sleep(0.02)


def test_another_tenant_never_gets_a_cached_key(
    client: TestClient, account: AccountFixture, make_account: Any
) -> None:
    kid = new_key(client, account.admin_key, "AES-256-GCM")["key_id"]
    ok(client, ENC, account.admin_key, plaintext=b64(b"x"), key_id=kid)  # cached
    other = make_account(name="Other Corp")
    wrong = post(client, ENC, other.admin_key, plaintext=b64(b"x"), key_id=kid)
    assert_error(wrong, 404, "NOT_FOUND")


def test_a_cached_key_encrypts_without_the_database_when_the_iv_must_wait(
    client: TestClient, app: FastAPI, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source busy with another thread's draw (draw_nowait None) costs a thread for the IV,
    never a database session: those sessions were what made encrypt collapse under load."""
    key = account.admin_key
    kid = new_key(client, key, "AES-256-GCM")["key_id"]
    ok(client, ENC, key, plaintext=b64(b"warm"), key_id=kid)  # the key is cached now
    runtime = app.state.runtime
    drawn: list[int] = []
    draw = runtime.entropy.draw

    def counted_draw(nbytes: int, **kwargs: Any) -> Any:
        drawn.append(nbytes)
        return draw(nbytes, **kwargs)

    def no_session() -> Any:
        raise AssertionError("a cached key opened a database session")

    monkeypatch.setattr(runtime.entropy, "draw_nowait", lambda *_a, **_k: None)
    monkeypatch.setattr(runtime.entropy, "draw", counted_draw)
    monkeypatch.setattr(runtime, "sessions", no_session)
    monkeypatch.setattr(app.state.crypto.encryptor, "sessions", no_session)  # what it opens
    plaintext, aad = b"no database", b"hdr"
    enc = ok(client, ENC, key, plaintext=b64(plaintext), key_id=kid, aad=b64(aad))
    assert drawn == [12]  # the IV, drawn in a thread as the full path draws it
    assert enc["key_id"] == kid and len(unb64(enc["iv"])) == 12
    monkeypatch.undo()
    fields = {k: enc[k] for k in ("ciphertext", "key_id", "iv", "tag")}
    assert unb64(ok(client, DEC, key, **fields, aad=b64(aad))["plaintext"]) == plaintext
