"""client.quantum against the real app, in process (SQLite and PostgreSQL).

What the server says is checked independently where the contract allows: exported keys
decrypt and verify locally with pyca/cryptography, following docs/quantum-api.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    Cipher,
    Client,
    ConflictError,
    DecryptionError,
    Encrypted,
    EntropyEncoding,
    KeyExchangeAlgorithm,
    NotFoundError,
    PermissionDeniedError,
    QuantumKey,
    Signature,
    SignatureAlgorithm,
    ValidationError,
)
from tests.conftest import AccountFixture, MakeAccount

SERVER = "http://testserver"


def sdk_for(client: TestClient, key: str) -> Client:
    return Client(api_key=key, base_url=SERVER, http_client=client)


def signed_bytes(algorithm: str, nonce_hex: str, message: bytes) -> bytes:
    return b"QL-SIGN-v1\x00" + algorithm.encode() + b"\x00" + bytes.fromhex(nonce_hex) + message


# -- keystore -----------------------------------------------------------------------------


def test_keystore_lifecycle(client: TestClient, make_account: MakeAccount) -> None:
    sdk = sdk_for(client, make_account().admin_key)
    aes = sdk.quantum.create_key("AES-256-GCM", exportable=True)
    assert type(aes) is QuantumKey
    assert aes.key_id.startswith("key_quantum_") and aes.type == "symmetric"
    assert aes.key is not None and len(aes.key) == 32 and aes.public_key is None
    signing = sdk.quantum.create_key("Ed25519")
    assert signing.key_id.startswith("key_sign_") and signing.key is None
    assert signing.public_key is not None and "BEGIN PUBLIC KEY" in signing.public_key

    # The material left once: later answers describe the key without it.
    fetched = sdk.quantum.get_key(aes.key_id)
    assert fetched == dataclasses.replace(aes, key=None)
    page = sdk.quantum.list_keys()
    assert [k.key_id for k in page.keys] == [signing.key_id, aes.key_id]
    assert page.total == 2 and all(k.key is None for k in page.keys)
    assert [k.key_id for k in sdk.quantum.list_keys(skip=1, limit=1).keys] == [aes.key_id]

    # Another account cannot see, use or delete it.
    intruder = sdk_for(client, make_account(name="Other").admin_key)
    with pytest.raises(NotFoundError):
        intruder.quantum.get_key(aes.key_id)
    with pytest.raises(NotFoundError):
        intruder.quantum.delete_key(aes.key_id)
    with pytest.raises(NotFoundError):
        intruder.quantum.encrypt(b"x", key_id=aes.key_id)
    assert intruder.quantum.list_keys().total == 0

    sdk.quantum.delete_key(aes.key_id)
    with pytest.raises(NotFoundError):
        sdk.quantum.get_key(aes.key_id)
    with pytest.raises(NotFoundError):
        sdk.quantum.delete_key(aes.key_id)
    assert [k.key_id for k in sdk.quantum.list_keys().keys] == [signing.key_id]


def test_test_mode_keys_are_invisible_to_live_keys(
    client: TestClient, account: AccountFixture
) -> None:
    live = sdk_for(client, account.admin_key)
    test = sdk_for(client, live.keys.create("sandbox", type="test", scopes=["admin"]).key)
    mine = live.quantum.create_key("AES-256-GCM")
    with pytest.raises(NotFoundError):
        test.quantum.get_key(mine.key_id)
    with pytest.raises(NotFoundError):
        test.quantum.decrypt(live.quantum.encrypt(b"live", key_id=mine.key_id))
    assert test.quantum.list_keys().total == 0


# -- encrypt / decrypt --------------------------------------------------------------------


def test_encrypt_decrypt_round_trip(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    plaintext = bytes(range(256)) * 4
    enc = sdk.quantum.encrypt(plaintext, aad=b"order-42")
    assert type(enc) is Encrypted and enc.algorithm == "AES-256-GCM"
    assert enc.key_id.startswith("key_quantum_")
    assert (len(enc.iv), len(enc.tag), len(enc.ciphertext)) == (12, 16, len(plaintext))
    assert sdk.quantum.decrypt(enc, aad=b"order-42") == plaintext
    # Same key, same plaintext: a fresh IV, so a different ciphertext.
    again = sdk.quantum.encrypt(plaintext, key_id=enc.key_id, aad=b"order-42")
    assert again.iv != enc.iv and again.ciphertext != enc.ciphertext
    assert sdk.quantum.decrypt(Encrypted.from_dict(again.to_dict()), aad=b"order-42") == plaintext

    flipped_tag = bytes([enc.tag[0] ^ 1]) + enc.tag[1:]
    flipped_ct = bytes([enc.ciphertext[0] ^ 1]) + enc.ciphertext[1:]
    for bad, aad in [
        (enc, None),
        (enc, b"order-43"),
        (dataclasses.replace(enc, tag=flipped_tag), b"order-42"),
        (dataclasses.replace(enc, ciphertext=flipped_ct), b"order-42"),
        (dataclasses.replace(enc, iv=again.iv), b"order-42"),
    ]:
        with pytest.raises(DecryptionError) as info:
            sdk.quantum.decrypt(bad, aad=aad)
        assert info.value.code == "DECRYPTION_FAILED" and info.value.status_code == 400


@pytest.mark.parametrize(
    ("algorithm", "aead"), [("AES-256-GCM", AESGCM), ("ChaCha20-Poly1305", ChaCha20Poly1305)]
)
def test_ciphertext_opens_locally_with_the_exported_key(
    client: TestClient, account: AccountFixture, algorithm: Cipher, aead: type[AESGCM]
) -> None:
    sdk = sdk_for(client, account.admin_key)
    key = sdk.quantum.create_key(algorithm, exportable=True)
    assert key.key is not None
    enc = sdk.quantum.encrypt(b"attack at dawn", key_id=key.key_id, algorithm=algorithm, aad=b"h")
    assert enc.algorithm == algorithm
    assert aead(key.key).decrypt(enc.iv, enc.ciphertext + enc.tag, b"h") == b"attack at dawn"
    # And the other way: sealed locally, opened by the server.
    iv = bytes(12)
    sealed = aead(key.key).encrypt(iv, b"from outside", None)
    opened = sdk.quantum.decrypt(
        ciphertext=sealed[:-16], iv=iv, tag=sealed[-16:], key_id=key.key_id
    )
    assert opened == b"from outside"


def test_wrong_kind_of_key_and_bad_input_are_validation_errors(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    signing = sdk.quantum.create_key("Ed25519")
    with pytest.raises(ValidationError) as info:
        sdk.quantum.encrypt(b"x", key_id=signing.key_id)
    assert type(info.value) is ValidationError
    with pytest.raises(ValidationError):
        sdk.quantum.encrypt(b"x", algorithm="ROT13")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        sdk.quantum.encrypt(b"\x00" * (1024 * 1024 + 1))


# -- sign / verify ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65"])
def test_sign_verify(
    client: TestClient, account: AccountFixture, algorithm: SignatureAlgorithm
) -> None:
    sdk = sdk_for(client, account.admin_key)
    message = b"release 1.2.3 sha256=" + bytes(32)
    sig = sdk.quantum.sign(message, algorithm=algorithm)
    assert type(sig) is Signature and sig.algorithm == algorithm
    assert len(bytes.fromhex(sig.quantum_nonce)) == 16
    assert sdk.quantum.verify(message, sig) is True
    assert sdk.quantum.verify(message, sig, public_key=sig.public_key, key_id=None) is True
    assert sdk.quantum.verify(message + b"!", sig) is False
    forged = dataclasses.replace(sig, signature=bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    assert sdk.quantum.verify(message, forged) is False
    other_nonce = dataclasses.replace(sig, quantum_nonce="00" * 16)
    assert sdk.quantum.verify(message, other_nonce) is False
    # The same key signs again with a fresh nonce.
    second = sdk.quantum.sign(message, key_id=sig.key_id, algorithm=algorithm)
    assert second.key_id == sig.key_id and second.quantum_nonce != sig.quantum_nonce
    assert sdk.quantum.verify(message, second)


def test_ed25519_signature_verifies_locally(client: TestClient, account: AccountFixture) -> None:
    sdk = sdk_for(client, account.admin_key)
    sig = sdk.quantum.sign(b"hello")
    public = serialization.load_pem_public_key(sig.public_key.encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(sig.signature, signed_bytes("Ed25519", sig.quantum_nonce, b"hello"))


def test_exported_hybrid_key_checks_both_halves_locally(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    key = sdk.quantum.create_key("Ed25519+ML-DSA-65", exportable=True)
    assert key.key is not None and len(key.key) == 64
    ed = Ed25519PrivateKey.from_private_bytes(key.key[:32])
    pq = mldsa.MLDSA65PrivateKey.from_seed_bytes(key.key[32:])
    sig = sdk.quantum.sign(b"both", key_id=key.key_id, algorithm="Ed25519+ML-DSA-65")
    assert len(sig.signature) == 64 + 3309
    data = signed_bytes("Ed25519+ML-DSA-65", sig.quantum_nonce, b"both")
    ed.public_key().verify(sig.signature[:64], data)
    pq.public_key().verify(sig.signature[64:], data)
    # Only one half valid is not enough.
    half = sig.signature[:64] + pq.sign(b"something else")
    assert sdk.quantum.verify(b"both", dataclasses.replace(sig, signature=half)) is False


def test_ml_dsa_signature_made_elsewhere_with_a_context(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    key = sdk.quantum.create_key("ML-DSA-65", exportable=True)
    assert key.key is not None and key.public_key is not None
    local = mldsa.MLDSA65PrivateKey.from_seed_bytes(key.key)
    signature = local.sign(b"outside", b"app-v2")
    check: dict[str, Any] = {"algorithm": "ML-DSA-65", "public_key": key.public_key}
    assert sdk.quantum.verify(b"outside", signature, context=b"app-v2", **check) is True
    assert sdk.quantum.verify(b"outside", signature, **check) is False
    assert sdk.quantum.verify(b"outside", signature, context=b"app-v3", **check) is False


def test_rsa_pss_sha3_signature_and_exported_rsa_key_check_out_locally(
    client: TestClient, account: AccountFixture
) -> None:
    sdk = sdk_for(client, account.admin_key)
    sig = sdk.quantum.sign(b"firmware", algorithm="SHA3-512-RSA")
    assert sig.key_id.startswith("key_rsa_") and sdk.quantum.verify(b"firmware", sig)
    public = serialization.load_pem_public_key(sig.public_key.encode())
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072
    public.verify(
        sig.signature,
        signed_bytes("SHA3-512-RSA", sig.quantum_nonce, b"firmware"),
        padding.PSS(mgf=padding.MGF1(hashes.SHA3_512()), salt_length=64),
        hashes.SHA3_512(),
    )

    pair = sdk.quantum.rsa(2048, exportable=True)
    assert (pair.algorithm, pair.type, pair.bits) == ("RSA", "rsa", 2048)
    assert pair.key is not None and pair.public_key is not None
    private = serialization.load_der_private_key(pair.key, password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        == pair.public_key
    )
    # The exported private key signs what the server's copy verifies.
    message = b"signed outside"
    signature = private.sign(
        message, padding.PSS(mgf=padding.MGF1(hashes.SHA3_512()), salt_length=64), hashes.SHA3_512()
    )
    assert sdk.quantum.verify(message, signature, algorithm="SHA3-512-RSA", key_id=pair.key_id)
    with pytest.raises(ValidationError):
        sdk.quantum.rsa(1024)  # type: ignore[arg-type]


def test_scopes_are_enforced(client: TestClient, account: AccountFixture) -> None:
    admin = sdk_for(client, account.admin_key)
    enc = admin.quantum.encrypt(b"x")
    crypto_only = sdk_for(client, admin.keys.create("ops", scopes=["quantum:crypto"]).key)
    assert crypto_only.quantum.decrypt(enc) == b"x"
    with pytest.raises(PermissionDeniedError):
        crypto_only.quantum.create_key("AES-256-GCM")
    with pytest.raises(PermissionDeniedError):
        crypto_only.quantum.list_keys()
    keys_only = sdk_for(client, admin.keys.create("kms", scopes=["quantum:keys"]).key)
    assert keys_only.quantum.get_key(enc.key_id).key_id == enc.key_id
    with pytest.raises(PermissionDeniedError):
        keys_only.quantum.decrypt(enc)


# -- entropy ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["hex", "base64", "raw"])
def test_entropy_encodings(
    client: TestClient, account: AccountFixture, encoding: EntropyEncoding
) -> None:
    sdk = sdk_for(client, account.admin_key)
    first = sdk.quantum.entropy(bits=77, encoding=encoding, source="cryptographic")
    assert (first.bits, first.encoding, first.source) == (77, encoding, "cryptographic")
    assert first.security_level == "CRYPTOGRAPHIC" and first.quantum_verified is False
    raw = first.bytes
    assert len(raw) == 10 and raw[-1] & 0b111 == 0  # 77 bits: the low 3 bits are zero
    if encoding == "raw":
        assert len(first.entropy) == 77
    assert sdk.quantum.entropy(bits=77, encoding=encoding).bytes != raw
    with pytest.raises(ValidationError):
        sdk.quantum.entropy(bits=4097)


def test_health_names_usable_sources(client: TestClient, account: AccountFixture) -> None:
    health = sdk_for(client, account.admin_key).quantum.health()
    assert health.available and "cryptographic" in health.backends
    assert health.sources["cryptographic"].available
    assert set(health.backends) <= {n for n, s in health.sources.items() if s.available}


# -- key exchange -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "a_len", "b_len"), [("X25519", 32, 32), ("X25519-ML-KEM-768", 1216, 1120)]
)
def test_key_exchange_between_two_accounts(
    client: TestClient,
    make_account: MakeAccount,
    algorithm: KeyExchangeAlgorithm,
    a_len: int,
    b_len: int,
) -> None:
    alice = sdk_for(client, make_account(name="Alice").admin_key)
    bob = sdk_for(client, make_account(name="Bob").admin_key)
    start = alice.quantum.key_exchange(algorithm=algorithm, key_bits=384)
    assert start.shared_secret is None and len(start.public_key) == a_len
    answer = bob.quantum.key_exchange(start.public_key, algorithm=algorithm, key_bits=384)
    assert answer.shared_secret is not None and len(answer.shared_secret) == 48
    assert len(answer.public_key) == b_len
    done = alice.quantum.key_exchange(
        answer.public_key, session_id=start.session_id, algorithm=algorithm, key_bits=384
    )
    assert done.shared_secret == answer.shared_secret
    # The session is spent; Bob cannot complete Alice's session either.
    with pytest.raises(ConflictError):
        alice.quantum.key_exchange(
            answer.public_key, session_id=start.session_id, algorithm=algorithm, key_bits=384
        )
    fresh = alice.quantum.key_exchange(algorithm=algorithm, key_bits=384)
    with pytest.raises(NotFoundError):
        bob.quantum.key_exchange(
            answer.public_key, session_id=fresh.session_id, algorithm=algorithm, key_bits=384
        )


# -- async twin ---------------------------------------------------------------------------


def test_async_quantum_against_the_app(app: FastAPI, account: AccountFixture) -> None:
    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient(
                api_key=account.admin_key, base_url=SERVER, transport=transport
            ) as sdk:
                key = await sdk.quantum.create_key("ChaCha20-Poly1305")
                enc = await sdk.quantum.encrypt(
                    b"async", key_id=key.key_id, algorithm="ChaCha20-Poly1305"
                )
                assert await sdk.quantum.decrypt(enc) == b"async"
                sig = await sdk.quantum.sign(b"async", algorithm="ML-DSA-65")
                assert await sdk.quantum.verify(b"async", sig) is True
                assert await sdk.quantum.verify(b"asynd", sig) is False
                listed = await sdk.quantum.list_keys()
                assert {k.key_id for k in listed.keys} == {key.key_id, sig.key_id}
                assert (await sdk.quantum.get_key(key.key_id)).algorithm == "ChaCha20-Poly1305"
                await sdk.quantum.delete_key(key.key_id)
                with pytest.raises(NotFoundError):
                    await sdk.quantum.decrypt(enc)
                assert len((await sdk.quantum.entropy(bits=64)).bytes) == 8
                start = await sdk.quantum.key_exchange()
                answer = await sdk.quantum.key_exchange(start.public_key)
                done = await sdk.quantum.key_exchange(
                    answer.public_key, session_id=start.session_id
                )
                assert done.shared_secret == answer.shared_secret is not None

    asyncio.run(scenario())
