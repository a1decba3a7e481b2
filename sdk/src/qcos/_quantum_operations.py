"""What each `client.quantum` method sends and how it reads the answer (sync and async twins).

Defaults: a parameter the caller leaves out is left out of the request (None below), so the
server's own default applies, and on a call that continues server state (completing a key
exchange, encrypting with a key) the server uses what that state says instead of a value the
caller never chose.

Retries: a call the server can safely see twice (health, entropy, decrypt, verify, encrypt
and sign, which without a key id use the account's one default key) is marked `retry_safe`;
one that creates state (a key, a key-exchange session, or a session spent by completing it)
is retried only on a 429 with a short Retry-After, like `licenses.generate`.
"""

from __future__ import annotations

from typing import Any

from qcos._operations import Operation, _segment, _without_none
from qcos._quantum_models import (
    Encrypted,
    Entropy,
    KeyExchange,
    QuantumHealth,
    QuantumKey,
    QuantumKeyList,
    Signature,
    b64decode,
    b64encode,
)

_QUANTUM = "/api/v1/quantum"
_CRYPTO = f"{_QUANTUM}/crypto"
DEFAULT_SIGNATURE = "Ed25519"


def _no_content(_: Any) -> None:
    return None


def _optional_b64(value: bytes | None) -> str | None:
    return None if value is None else b64encode(value)


def _plaintext(body: Any) -> bytes:
    return b64decode(body["plaintext"])


def _valid(body: Any) -> bool:
    valid = body["valid"]
    if not isinstance(valid, bool):
        raise TypeError("valid is not a boolean")
    return valid


def health() -> Operation[QuantumHealth]:
    return Operation("GET", f"{_QUANTUM}/health", QuantumHealth.from_dict, unwrap=False)


def entropy(bits: int | None, encoding: str | None, source: str | None) -> Operation[Entropy]:
    body = _without_none(bits=bits, encoding=encoding, source=source)
    return Operation(
        "POST", f"{_QUANTUM}/entropy", Entropy.from_dict, json=body, unwrap=False, retry_safe=True
    )


def create_key(
    algorithm: str, exportable: bool | None, source: str | None, key: bytes | None
) -> Operation[QuantumKey]:
    body = _without_none(
        algorithm=algorithm, exportable=exportable, source=source, key=_optional_b64(key)
    )
    return Operation(
        "POST", f"{_QUANTUM}/keys", QuantumKey.from_dict, json=body, unwrap=False, keyed=True
    )


def rsa(bits: int | None, exportable: bool | None, source: str | None) -> Operation[QuantumKey]:
    body = _without_none(bits=bits, exportable=exportable, source=source)
    return Operation(
        "POST", f"{_QUANTUM}/rsa", QuantumKey.from_dict, json=body, unwrap=False, keyed=True
    )


def list_keys(skip: int | None, limit: int | None) -> Operation[QuantumKeyList]:
    return Operation(
        "GET",
        f"{_QUANTUM}/keys",
        QuantumKeyList.from_dict,
        params=_without_none(skip=skip, limit=limit),
        unwrap=False,
    )


def get_key(key_id: str) -> Operation[QuantumKey]:
    return Operation(
        "GET", f"{_QUANTUM}/keys/{_segment(key_id)}", QuantumKey.from_dict, unwrap=False
    )


def delete_key(key_id: str) -> Operation[None]:
    return Operation("DELETE", f"{_QUANTUM}/keys/{_segment(key_id)}", _no_content, unwrap=False)


def encrypt(
    plaintext: bytes, key_id: str | None, algorithm: str | None, aad: bytes | None
) -> Operation[Encrypted]:
    # No algorithm: the key's own, or for a new key the server's default (AES-256-GCM).
    body = _without_none(
        plaintext=b64encode(plaintext), key_id=key_id, algorithm=algorithm, aad=_optional_b64(aad)
    )
    return Operation(
        "POST",
        f"{_CRYPTO}/encrypt",
        Encrypted.from_dict,
        json=body,
        unwrap=False,
        # Without a key id the server uses the account's default key (made once, under a
        # unique index), so a repeated call never stores a second key.
        retry_safe=True,
    )


def decrypt(
    encrypted: Encrypted | None,
    *,
    ciphertext: bytes | None,
    iv: bytes | None,
    tag: bytes | None,
    key_id: str | None,
    aad: bytes | None,
    algorithm: str | None,
) -> Operation[bytes]:
    if encrypted is not None:
        if any(v is not None for v in (ciphertext, iv, tag, key_id)):
            raise TypeError("pass either an Encrypted or ciphertext=/iv=/tag=/key_id=, not both")
        ciphertext, iv, tag, key_id = (
            encrypted.ciphertext,
            encrypted.iv,
            encrypted.tag,
            encrypted.key_id,
        )
        algorithm = algorithm or encrypted.algorithm
    if ciphertext is None or iv is None or tag is None or key_id is None:
        raise TypeError("decrypt needs an Encrypted, or ciphertext=, iv=, tag= and key_id=")
    body = _without_none(
        ciphertext=b64encode(ciphertext),
        key_id=key_id,
        iv=b64encode(iv),
        tag=b64encode(tag),
        aad=_optional_b64(aad),
        algorithm=algorithm,
    )
    return Operation(
        "POST", f"{_CRYPTO}/decrypt", _plaintext, json=body, unwrap=False, retry_safe=True
    )


def sign(message: bytes, key_id: str | None, algorithm: str | None) -> Operation[Signature]:
    # Without a key, the SDK asks for an Ed25519 key rather than the API's default RSA-3072
    # (a slow key generation on every call): a documented choice of the SDK and the CLI, and
    # never sent with `key_id`, where the key's own algorithm applies.
    if algorithm is None and key_id is None:
        algorithm = DEFAULT_SIGNATURE
    body = _without_none(message=b64encode(message), key_id=key_id, algorithm=algorithm)
    return Operation(
        "POST",
        f"{_CRYPTO}/sign",
        Signature.from_dict,
        json=body,
        unwrap=False,
        retry_safe=True,  # without a key id: the account's default signing key, as above
    )


def verify(
    message: bytes,
    signature: bytes | Signature,
    *,
    quantum_nonce: str | None,
    algorithm: str | None,
    key_id: str | None,
    public_key: str | None,
    context: bytes | None = None,
) -> Operation[bool]:
    if isinstance(signature, Signature):
        quantum_nonce = quantum_nonce or signature.quantum_nonce
        algorithm = algorithm or signature.algorithm
        if key_id is None and public_key is None:
            # The server's own copy of the key, not the PEM that travelled with the signature:
            # whoever forges a signature can also ship a matching public key.
            key_id = signature.key_id
        raw = signature.signature
    else:
        raw = signature
    if algorithm is None:
        raise TypeError("verify needs algorithm= (or a Signature)")
    if key_id is None and public_key is None:
        raise TypeError("verify needs key_id= or public_key= (or a Signature)")
    body = _without_none(
        message=b64encode(message),
        signature=b64encode(raw),
        quantum_nonce=quantum_nonce,
        algorithm=algorithm,
        key_id=key_id,
        public_key=public_key,
        context=_optional_b64(context),
    )
    return Operation("POST", f"{_CRYPTO}/verify", _valid, json=body, unwrap=False, retry_safe=True)


def key_exchange(
    peer_public_key: bytes | None,
    session_id: str | None,
    key_bits: int | None,
    algorithm: str | None,
) -> Operation[KeyExchange]:
    # Completing a session uses the session's own algorithm and key size: sending a default
    # here (X25519) made completing an X25519-ML-KEM-768 session fail.
    body = _without_none(
        peer_public_key=_optional_b64(peer_public_key),
        session_id=session_id,
        key_bits=key_bits,
        algorithm=algorithm,
    )
    # Retried on a lost connection only with its Idempotency-Key: completing spends the
    # session (a plain retry would be a 409), and starting twice leaves a stray session.
    return Operation(
        "POST",
        f"{_CRYPTO}/key-exchange",
        KeyExchange.from_dict,
        json=body,
        unwrap=False,
        keyed=True,
    )
