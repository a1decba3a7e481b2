"""The pure algorithm layer and the strict decoders, without the HTTP app."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from quantumlock.core.errors import ValidationFailed
from quantumlock.crypto import algorithms as alg
from quantumlock.crypto.encoding import b64_chars, decode_b64, decode_nonce


def test_aead_round_trip_and_every_tamper_fails() -> None:
    for algorithm in alg.SYMMETRIC:
        key, iv = os.urandom(32), os.urandom(12)
        ct, tag = alg.aead_encrypt(algorithm, key, iv, b"payload", b"aad")
        assert len(tag) == 16 and len(ct) == len(b"payload")
        assert alg.aead_decrypt(algorithm, key, iv, ct, tag, b"aad") == b"payload"
        for args in (
            (os.urandom(32), iv, ct, tag, b"aad"),
            (key, os.urandom(12), ct, tag, b"aad"),
            (key, iv, bytes([ct[0] ^ 1]) + ct[1:], tag, b"aad"),
            (key, iv, ct, bytes([tag[0] ^ 1]) + tag[1:], b"aad"),
            (key, iv, ct, tag, None),
        ):
            assert alg.aead_decrypt(algorithm, *args) is None


def test_the_algorithms_do_not_decrypt_each_other() -> None:
    key, iv = os.urandom(32), os.urandom(12)
    ct, tag = alg.aead_encrypt(alg.AES_256_GCM, key, iv, b"x", None)
    assert alg.aead_decrypt(alg.CHACHA20_POLY1305, key, iv, ct, tag, None) is None


def test_signed_bytes_layout() -> None:
    nonce = bytes(range(16))
    assert alg.signed_bytes("Ed25519", nonce, b"msg") == (
        b"QL-SIGN-v1\x00Ed25519\x00" + nonce + b"msg"
    )
    assert alg.signed_bytes("Ed25519", None, b"msg") == b"msg"


def test_hybrid_public_key_and_signature() -> None:
    material = os.urandom(64)
    pem = alg.public_pem(alg.HYBRID, material)
    assert pem is not None and pem.count("BEGIN PUBLIC KEY") == 2
    key = alg.load_public(pem)
    assert isinstance(key, tuple) and alg.key_fits(alg.HYBRID, key)
    assert not alg.key_fits(alg.ED25519, key)
    signature = alg.sign(alg.HYBRID, alg.HYBRID, material, b"data")
    assert len(signature) == 64 + 3309
    assert alg.verify(alg.HYBRID, key, signature, b"data")
    assert not alg.verify(alg.HYBRID, key, signature, b"other")
    # The two halves in the other order are not a hybrid key.
    first, second = pem.split("-----END PUBLIC KEY-----\n")[:2]
    swapped = second + "-----END PUBLIC KEY-----\n" + first + "-----END PUBLIC KEY-----\n"
    with pytest.raises(alg.KeyFormatError):
        alg.load_public(swapped)


def test_ml_dsa_context_is_bound() -> None:
    seed = os.urandom(32)
    private = mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)
    signature = private.sign(b"m", b"ctx")
    key = alg.load_public(alg.public_pem(alg.ML_DSA_65, seed) or "")
    assert alg.verify(alg.ML_DSA_65, key, signature, b"m", b"ctx")
    assert not alg.verify(alg.ML_DSA_65, key, signature, b"m")
    assert not alg.verify(alg.ML_DSA_65, key, signature, b"m", b"ctz")


def test_load_public_rejects_junk() -> None:
    for text in ("", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(alg.KeyFormatError):
            alg.load_public(text)
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(alg.KeyFormatError):
        alg.load_public(pem * 3)


def test_a_key_signs_only_its_own_algorithm() -> None:
    with pytest.raises(alg.KeyFormatError):
        alg.sign(alg.ML_DSA_65, alg.ED25519, os.urandom(32), b"x")


def test_strict_base64() -> None:
    assert decode_b64(base64.b64encode(b"hello").decode(), "f", max_bytes=5) == b"hello"
    assert decode_b64("", "f", max_bytes=5) == b""
    for bad in ("aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "aGVs*G8=", "é"):
        with pytest.raises(ValidationFailed):
            decode_b64(bad, "f", max_bytes=100)
    with pytest.raises(ValidationFailed):
        decode_b64(base64.b64encode(bytes(6)).decode(), "f", max_bytes=5)
    with pytest.raises(ValidationFailed):
        decode_b64(base64.b64encode(bytes(11)).decode(), "iv", max_bytes=12, exact=12)
    assert b64_chars(1) == 4 and b64_chars(3) == 4 and b64_chars(4) == 8


def test_nonce_is_32_hex() -> None:
    assert decode_nonce("00" * 16) == bytes(16)
    assert decode_nonce("AB" * 16) == b"\xab" * 16
    for bad in ("00" * 15, "00" * 17, "zz" * 16, " " + "00" * 16):
        with pytest.raises(ValidationFailed):
            decode_nonce(bad)
