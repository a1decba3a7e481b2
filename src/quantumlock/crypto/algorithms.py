"""The algorithms the keystore offers, composed from pyca/cryptography primitives only.

Everything here is pure: bytes in, bytes out, no database and no entropy source. Private
material always enters as the raw form the keystore stores (and exports): 32-byte
symmetric keys, 32-byte Ed25519/X25519 private keys, the 32-byte ML-DSA-65 seed, the
64-byte hybrid concatenation, PKCS#8 DER for RSA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

AES_256_GCM: Final = "AES-256-GCM"
CHACHA20_POLY1305: Final = "ChaCha20-Poly1305"
ED25519: Final = "Ed25519"
ML_DSA_65: Final = "ML-DSA-65"
HYBRID: Final = "Ed25519+ML-DSA-65"
X25519: Final = "X25519"
RSA: Final = "RSA"
SHA3_512_RSA: Final = "SHA3-512-RSA"  # a signature algorithm over an RSA key

SYMMETRIC = (AES_256_GCM, CHACHA20_POLY1305)
SIGNING = (ED25519, ML_DSA_65, HYBRID)
KEY_ALGORITHMS = (*SYMMETRIC, *SIGNING, X25519)  # what POST /quantum/keys creates
SIGNATURE_ALGORITHMS = (SHA3_512_RSA, *SIGNING)


@dataclass(frozen=True)
class KeyKind:
    type: str  # symmetric | signing | key_agreement | rsa
    prefix: str  # id prefix
    material_bytes: int | None  # exact raw length; None for RSA (PKCS#8 DER)


KINDS: Final[dict[str, KeyKind]] = {
    AES_256_GCM: KeyKind("symmetric", "key_quantum", 32),
    CHACHA20_POLY1305: KeyKind("symmetric", "key_quantum", 32),
    ED25519: KeyKind("signing", "key_sign", 32),
    ML_DSA_65: KeyKind("signing", "key_sign", 32),
    HYBRID: KeyKind("signing", "key_sign", 64),
    X25519: KeyKind("key_agreement", "key_kex", 32),
    RSA: KeyKind("rsa", "key_rsa", None),
}

IV_BYTES: Final = 12
TAG_BYTES: Final = 16
NONCE_BYTES: Final = 16  # quantum_nonce bound into signed bytes
ED25519_SIG_BYTES: Final = 64
ML_DSA_65_SIG_BYTES: Final = 3309
SIGN_DOMAIN: Final = b"QL-SIGN-v1\x00"

_PEM_BLOCK = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END PUBLIC KEY-----"
)


class KeyFormatError(ValueError):
    """Key material or a public key that does not parse as the algorithm says."""


PublicKey = (
    ed25519.Ed25519PublicKey
    | mldsa.MLDSA65PublicKey
    | rsa.RSAPublicKey
    | x25519.X25519PublicKey
    | tuple[ed25519.Ed25519PublicKey, mldsa.MLDSA65PublicKey]
)


# -- AEAD ------------------------------------------------------------------------------


def _aead(algorithm: str, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return AESGCM(key) if algorithm == AES_256_GCM else ChaCha20Poly1305(key)


def aead_encrypt(
    algorithm: str, key: bytes, iv: bytes, plaintext: bytes, aad: bytes | None
) -> tuple[bytes, bytes]:
    """(ciphertext without tag, 16-byte tag)."""
    sealed = _aead(algorithm, key).encrypt(iv, plaintext, aad)
    return sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]


def aead_decrypt(
    algorithm: str, key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes | None
) -> bytes | None:
    """The plaintext, or None when anything (key, iv, tag, aad, ciphertext) is wrong."""
    try:
        return _aead(algorithm, key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag:
        return None


# -- private keys from raw material ------------------------------------------------------


def public_pem(algorithm: str, material: bytes) -> str | None:
    """SubjectPublicKeyInfo PEM of a key's public half (two blocks for the hybrid)."""
    if algorithm in SYMMETRIC:
        return None
    if algorithm == HYBRID:
        return _pem(ed25519_private(material[:32]).public_key()) + _pem(
            mldsa_private(material[32:]).public_key()
        )
    if algorithm == ED25519:
        return _pem(ed25519_private(material).public_key())
    if algorithm == ML_DSA_65:
        return _pem(mldsa_private(material).public_key())
    if algorithm == X25519:
        return _pem(x25519.X25519PrivateKey.from_private_bytes(material).public_key())
    if algorithm == RSA:
        return _pem(rsa_private(material).public_key())
    raise KeyFormatError(f"Unknown algorithm {algorithm!r}.")


def _pem(
    key: ed25519.Ed25519PublicKey
    | mldsa.MLDSA65PublicKey
    | rsa.RSAPublicKey
    | x25519.X25519PublicKey,
) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def ed25519_private(material: bytes) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(material)


def mldsa_private(seed: bytes) -> mldsa.MLDSA65PrivateKey:
    return mldsa.MLDSA65PrivateKey.from_seed_bytes(seed)


def rsa_private(der: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("Not an RSA private key.")
    return key


def rsa_pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA3_512()), salt_length=padding.PSS.DIGEST_LENGTH)


# -- signatures ---------------------------------------------------------------------------


def signed_bytes(algorithm: str, nonce: bytes | None, message: bytes) -> bytes:
    """What is actually signed: the contract's domain-separated binding, or the bare message."""
    if nonce is None:
        return message
    return SIGN_DOMAIN + algorithm.encode() + b"\x00" + nonce + message


def sign(algorithm: str, key_algorithm: str, material: bytes, data: bytes) -> bytes:
    if algorithm == SHA3_512_RSA and key_algorithm == RSA:
        return rsa_private(material).sign(data, rsa_pss(), hashes.SHA3_512())
    if algorithm != key_algorithm:
        raise KeyFormatError(f"A {key_algorithm} key cannot sign with {algorithm}.")
    if algorithm == ED25519:
        return ed25519_private(material).sign(data)
    if algorithm == ML_DSA_65:
        return mldsa_private(material).sign(data)
    if algorithm == HYBRID:
        return ed25519_private(material[:32]).sign(data) + mldsa_private(material[32:]).sign(data)
    raise KeyFormatError(f"{algorithm} is not a signature algorithm.")


def load_public(pem: str) -> PublicKey:
    """One SubjectPublicKeyInfo PEM block, or two (Ed25519 then ML-DSA-65) for the hybrid."""
    blocks = _PEM_BLOCK.findall(pem.encode())
    if not blocks or len(blocks) > 2:
        raise KeyFormatError("public_key must be one or two SubjectPublicKeyInfo PEM blocks.")
    try:
        keys = [serialization.load_pem_public_key(block) for block in blocks]
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError("public_key is not a valid PEM public key.") from None
    if len(keys) == 2:
        first, second = keys
        if isinstance(first, ed25519.Ed25519PublicKey) and isinstance(
            second, mldsa.MLDSA65PublicKey
        ):
            return (first, second)
        raise KeyFormatError("A hybrid public_key is an Ed25519 block then an ML-DSA-65 block.")
    key = keys[0]
    if isinstance(
        key,
        ed25519.Ed25519PublicKey
        | mldsa.MLDSA65PublicKey
        | rsa.RSAPublicKey
        | x25519.X25519PublicKey,
    ):
        return key
    raise KeyFormatError("Unsupported public key type.")


def key_fits(algorithm: str, key: PublicKey) -> bool:
    if algorithm == SHA3_512_RSA:
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm == ED25519:
        return isinstance(key, ed25519.Ed25519PublicKey)
    if algorithm == ML_DSA_65:
        return isinstance(key, mldsa.MLDSA65PublicKey)
    if algorithm == HYBRID:
        return isinstance(key, tuple)
    return False


def verify(
    algorithm: str, key: PublicKey, signature: bytes, data: bytes, context: bytes | None = None
) -> bool:
    """True only if the signature is valid; the hybrid needs both halves valid.

    `context` is ML-DSA's FIPS 204 context string (empty when None).
    """
    try:
        if isinstance(key, tuple):
            if len(signature) != ED25519_SIG_BYTES + ML_DSA_65_SIG_BYTES:
                return False
            key[0].verify(signature[:ED25519_SIG_BYTES], data)
            key[1].verify(signature[ED25519_SIG_BYTES:], data)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, rsa_pss(), hashes.SHA3_512())
        elif isinstance(key, mldsa.MLDSA65PublicKey):
            key.verify(signature, data, context)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True
