"""client.quantum against httpx.MockTransport, sync and async: what goes on the wire and back."""

from __future__ import annotations

import base64
import json
import pickle
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from qcos import (
    APIConnectionError,
    APIError,
    ConflictError,
    DecryptionError,
    Encrypted,
    Entropy,
    KeyExchange,
    NotFoundError,
    QuantumHealth,
    QuantumKey,
    QuantumKeyList,
    QuantumUnavailableError,
    Signature,
    ValidationError,
)
from qcos._quantum_models import bits_to_bytes
from tests.sdk.conftest import Recorder, api_error, call

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v1(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"x-request-id": "req_q"})


def sent(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


KEY_OBJECT: dict[str, Any] = {
    "key_id": "key_quantum_" + "a" * 24,
    "algorithm": "AES-256-GCM",
    "type": "symmetric",
    "source": "cryptographic",
    "security_level": "CRYPTOGRAPHIC",
    "quantum_verified": False,
    "version": 1,
    "exportable": False,
    "public_key": None,
    "created_at": "2026-01-01T00:00:00Z",
    "added_in_a_later_server": True,
}
ENCRYPTED = {
    "ciphertext": b64(b"\x01\x02\x03"),
    "key_id": "key_quantum_x",
    "iv": b64(bytes(range(12))),
    "tag": b64(bytes(range(16, 32))),
    "algorithm": "ChaCha20-Poly1305",
    "quantum_secured": False,
    "key_version": 1,
}
SIGNED = {
    "signature": b64(b"\xaa" * 64),
    "key_id": "key_sign_x",
    "public_key": PEM,
    "algorithm": "Ed25519",
    "quantum_nonce": "0f" * 16,
}


# -- entropy and health -------------------------------------------------------------------


def test_health_is_typed_and_keeps_unknown_source_fields(mode: str) -> None:
    body = {
        "available": True,
        "backends": ["qiskit_local", "cryptographic"],
        "qcos_api": {
            "available": False,
            "healthy": False,
            "url": None,
            "latency_ms": None,
            "reason": "QL_QCOS_API_URL is not set",
        },
        "qiskit_local": {"available": True, "healthy": True, "simulator": "aer_simulator"},
        "cryptographic": {"available": True, "healthy": True, "reason": None},
        "test_result": {"bits": 64, "source": "qiskit_local", "entropy": "00" * 8},
    }
    rec = Recorder(v1(body))
    health = call(mode, rec, "quantum.health")
    assert type(health) is QuantumHealth
    assert (rec.requests[0].method, rec.requests[0].url.path) == ("GET", "/api/v1/quantum/health")
    assert health.available and health.backends == ["qiskit_local", "cryptographic"]
    assert set(health.sources) == {"qcos_api", "qiskit_local", "cryptographic"}
    assert not health.sources["qcos_api"].available
    assert health.sources["qcos_api"].reason == "QL_QCOS_API_URL is not set"
    assert health.sources["qiskit_local"].details == {"simulator": "aer_simulator"}
    assert health.test_result is not None and health.test_result["source"] == "qiskit_local"


@pytest.mark.parametrize(
    ("encoding", "wire", "bits", "expected"),
    [
        ("hex", "a7f3", 16, b"\xa7\xf3"),
        ("base64", b64(b"\x00\xffz"), 24, b"\x00\xffz"),
        ("raw", "101", 3, b"\xa0"),
        ("raw", "0000000111", 10, b"\x01\xc0"),
    ],
)
def test_entropy_request_and_bytes(
    mode: str, encoding: str, wire: str, bits: int, expected: bytes
) -> None:
    rec = Recorder(
        v1(
            {
                "entropy": wire,
                "bits": bits,
                "encoding": encoding,
                "source": "cryptographic",
                "qubits": None,
                "fidelity": None,
                "quantum_verified": False,
                "security_level": "CRYPTOGRAPHIC",
                "timestamp": "2026-01-01T00:00:00Z",
                "job_id": "job_1",
            }
        )
    )
    result = call(mode, rec, "quantum.entropy", bits, encoding, source="cryptographic")
    assert type(result) is Entropy
    assert sent(rec.requests[0]) == {"bits": bits, "encoding": encoding, "source": "cryptographic"}
    assert rec.requests[0].url.path == "/api/v1/quantum/entropy"
    assert result.bytes == expected and result.timestamp == JAN1 and result.job_id == "job_1"
    assert wire not in repr(result)


def test_entropy_defaults_are_the_servers(mode: str) -> None:
    rec = Recorder(v1({"entropy": "00" * 32, "bits": 256, "source": "cryptographic"}))
    assert call(mode, rec, "quantum.entropy").bytes == bytes(32)
    assert sent(rec.requests[0]) == {}


def test_raw_bits_are_checked() -> None:
    assert bits_to_bytes("") == b""
    assert bits_to_bytes("1" * 9) == b"\xff\x80"
    with pytest.raises(ValueError):
        bits_to_bytes("0102")


def test_forced_source_unavailable_is_its_own_error(mode: str, slept: list[float]) -> None:
    rec = Recorder(api_error(503, "QUANTUM_UNAVAILABLE"))
    with pytest.raises(QuantumUnavailableError) as info:
        call(mode, rec, "quantum.entropy", source="qcos_api")
    assert info.value.status_code == 503 and info.value.code == "QUANTUM_UNAVAILABLE"
    assert isinstance(info.value, APIError)
    assert len(rec.requests) == 1 and slept == []  # not retried: the source is down
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own object
    assert type(copy) is QuantumUnavailableError


def test_other_503_is_a_plain_api_error(mode: str) -> None:
    with pytest.raises(APIError) as info:
        call(mode, Recorder(httpx.Response(503, text="bad gateway")), "quantum.health")
    assert not isinstance(info.value, QuantumUnavailableError)


# -- keystore -----------------------------------------------------------------------------


def test_create_key_exportable_gives_bytes_once(mode: str) -> None:
    material = bytes(range(32))
    rec = Recorder(v1({**KEY_OBJECT, "exportable": True, "key": b64(material)}, 201))
    key = call(mode, rec, "quantum.create_key", "AES-256-GCM", exportable=True)
    assert type(key) is QuantumKey
    assert sent(rec.requests[0]) == {"algorithm": "AES-256-GCM", "exportable": True}
    assert key.key == material and key.created_at == JAN1 and key.exportable
    assert material.hex() not in repr(key) and str(list(material)) not in repr(key)


def test_create_key_can_import_material(mode: str) -> None:
    rec = Recorder(v1({**KEY_OBJECT, "source": "imported", "key": None}, 201))
    key = call(mode, rec, "quantum.create_key", "ChaCha20-Poly1305", key=b"\x07" * 32)
    assert sent(rec.requests[0]) == {
        "algorithm": "ChaCha20-Poly1305",
        "key": b64(b"\x07" * 32),
    }
    assert key.source == "imported" and key.key is None


def test_rsa_sends_bits(mode: str) -> None:
    rec = Recorder(
        v1({**KEY_OBJECT, "algorithm": "RSA", "type": "rsa", "bits": 2048, "key": None}, 201)
    )
    key = call(mode, rec, "quantum.rsa", 2048, source="cryptographic")
    assert (rec.requests[0].method, rec.requests[0].url.path) == ("POST", "/api/v1/quantum/rsa")
    assert sent(rec.requests[0]) == {"bits": 2048, "source": "cryptographic"}
    assert key.bits == 2048 and key.key is None


def test_list_get_delete(mode: str) -> None:
    page = {"keys": [KEY_OBJECT, {**KEY_OBJECT, "key_id": "key_kex_b"}], "total": 5}
    rec = Recorder(v1({**page, "skip": 2, "limit": 2}))
    listed = call(mode, rec, "quantum.list_keys", skip=2, limit=2)
    assert type(listed) is QuantumKeyList
    assert dict(rec.requests[0].url.params) == {"skip": "2", "limit": "2"}
    assert [k.key_id for k in listed.keys] == [KEY_OBJECT["key_id"], "key_kex_b"]
    assert listed.next_skip == 4

    rec = Recorder(v1(KEY_OBJECT))
    assert call(mode, rec, "quantum.get_key", "a/b").key_id == KEY_OBJECT["key_id"]
    assert rec.requests[0].url.raw_path == b"/api/v1/quantum/keys/a%2Fb"

    rec = Recorder(httpx.Response(204))
    assert call(mode, rec, "quantum.delete_key", "key_quantum_x") is None
    assert (rec.requests[0].method, rec.requests[0].url.path) == (
        "DELETE",
        "/api/v1/quantum/keys/key_quantum_x",
    )
    with pytest.raises(NotFoundError):
        call(mode, Recorder(api_error(404, "NOT_FOUND")), "quantum.get_key", "key_quantum_x")


# -- encrypt / decrypt --------------------------------------------------------------------


def test_encrypt_sends_base64_and_returns_bytes(mode: str) -> None:
    rec = Recorder(v1(ENCRYPTED))
    enc = call(mode, rec, "quantum.encrypt", b"\x00hello", aad=b"ctx")
    assert sent(rec.requests[0]) == {"plaintext": b64(b"\x00hello"), "aad": b64(b"ctx")}
    assert rec.requests[0].url.path == "/api/v1/quantum/crypto/encrypt"
    assert type(enc) is Encrypted
    assert (enc.ciphertext, enc.iv, enc.tag) == (
        b"\x01\x02\x03",
        bytes(range(12)),
        bytes(range(16, 32)),
    )
    assert Encrypted.from_dict(enc.to_dict()) == enc


def test_encrypt_with_key_lets_the_key_decide_the_algorithm(mode: str) -> None:
    rec = Recorder(v1(ENCRYPTED))
    call(mode, rec, "quantum.encrypt", b"x", key_id="key_quantum_x")
    assert sent(rec.requests[0]) == {"plaintext": b64(b"x"), "key_id": "key_quantum_x"}


def test_decrypt_takes_an_encrypted_or_fields(mode: str) -> None:
    enc = Encrypted.from_dict(ENCRYPTED)
    answer = {"plaintext": b64(b"\x00hello"), "key_id": "key_quantum_x", "algorithm": "x"}
    rec = Recorder(v1(answer))
    assert call(mode, rec, "quantum.decrypt", enc, aad=b"ctx") == b"\x00hello"
    expected = {
        "ciphertext": ENCRYPTED["ciphertext"],
        "key_id": "key_quantum_x",
        "iv": ENCRYPTED["iv"],
        "tag": ENCRYPTED["tag"],
        "aad": b64(b"ctx"),
        "algorithm": "ChaCha20-Poly1305",
    }
    assert sent(rec.requests[0]) == expected
    plain = call(
        mode,
        rec,
        "quantum.decrypt",
        ciphertext=enc.ciphertext,
        iv=enc.iv,
        tag=enc.tag,
        key_id=enc.key_id,
    )
    assert plain == b"\x00hello"
    assert sent(rec.requests[1]) == {
        k: v for k, v in expected.items() if k not in {"aad", "algorithm"}
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ciphertext": b"x", "iv": b"i", "tag": b"t"},  # no key id
        {"encrypted": Encrypted.from_dict(ENCRYPTED), "iv": b"i"},  # both forms
        {},
    ],
)
def test_decrypt_refuses_incomplete_arguments_before_sending(mode: str, kwargs: Any) -> None:
    rec = Recorder(v1({}))
    with pytest.raises(TypeError):
        call(mode, rec, "quantum.decrypt", **kwargs)
    assert rec.requests == []


def test_decryption_failure_is_a_validation_error(mode: str) -> None:
    rec = Recorder(api_error(400, "DECRYPTION_FAILED"))
    with pytest.raises(DecryptionError) as info:
        call(mode, rec, "quantum.decrypt", Encrypted.from_dict(ENCRYPTED))
    assert isinstance(info.value, ValidationError) and info.value.code == "DECRYPTION_FAILED"
    # An ordinary 400 stays an ordinary ValidationError.
    with pytest.raises(ValidationError) as plain:
        call(mode, Recorder(api_error(400, "VALIDATION_ERROR")), "quantum.encrypt", b"x")
    assert type(plain.value) is ValidationError


def test_malformed_base64_in_an_answer_is_an_invalid_response(mode: str) -> None:
    rec = Recorder(v1({**ENCRYPTED, "tag": "not base64!"}))
    with pytest.raises(APIError) as info:
        call(mode, rec, "quantum.encrypt", b"x")
    assert info.value.code == "INVALID_RESPONSE"


# -- sign / verify ------------------------------------------------------------------------


def test_sign_defaults_to_ed25519_and_returns_a_signature(mode: str) -> None:
    rec = Recorder(v1(SIGNED))
    sig = call(mode, rec, "quantum.sign", b"msg")
    assert sent(rec.requests[0]) == {"message": b64(b"msg"), "algorithm": "Ed25519"}
    assert type(sig) is Signature and sig.signature == b"\xaa" * 64
    assert Signature.from_dict(sig.to_dict()) == sig
    rec = Recorder(v1(SIGNED))
    call(mode, rec, "quantum.sign", b"msg", key_id="key_sign_x")
    assert sent(rec.requests[0]) == {"message": b64(b"msg"), "key_id": "key_sign_x"}


def test_verify_with_a_signature_uses_the_servers_key(mode: str) -> None:
    rec = Recorder(v1({"valid": True, "algorithm": "Ed25519", "key_id": "key_sign_x"}))
    assert call(mode, rec, "quantum.verify", b"msg", Signature.from_dict(SIGNED)) is True
    assert sent(rec.requests[0]) == {
        "message": b64(b"msg"),
        "signature": SIGNED["signature"],
        "quantum_nonce": SIGNED["quantum_nonce"],
        "algorithm": "Ed25519",
        "key_id": "key_sign_x",
    }
    rec = Recorder(v1({"valid": False, "algorithm": "Ed25519", "key_id": None}))
    valid = call(
        mode,
        rec,
        "quantum.verify",
        b"msg",
        b"\x00" * 64,
        quantum_nonce="ab" * 16,
        algorithm="Ed25519",
        public_key=PEM,
    )
    assert valid is False
    assert sent(rec.requests[0])["public_key"] == PEM
    assert "key_id" not in sent(rec.requests[0])


def test_verify_needs_an_algorithm_and_a_key(mode: str) -> None:
    rec = Recorder(v1({"valid": True}))
    with pytest.raises(TypeError):
        call(mode, rec, "quantum.verify", b"m", b"s", quantum_nonce="00", key_id="k")
    with pytest.raises(TypeError):
        call(mode, rec, "quantum.verify", b"m", b"s", quantum_nonce="00", algorithm="Ed25519")
    assert rec.requests == []


def test_verify_without_a_nonce_checks_the_message_as_is(mode: str) -> None:
    rec = Recorder(v1({"valid": True, "algorithm": "Ed25519", "key_id": None}))
    assert call(mode, rec, "quantum.verify", b"m", b"s", algorithm="Ed25519", public_key=PEM)
    assert sent(rec.requests[0]) == {
        "message": b64(b"m"),
        "signature": b64(b"s"),
        "algorithm": "Ed25519",
        "public_key": PEM,
    }
    call(mode, rec, "quantum.verify", b"m", b"s", algorithm="ML-DSA-65", key_id="k", context=b"c")
    assert sent(rec.requests[1]) == {
        "message": b64(b"m"),
        "signature": b64(b"s"),
        "algorithm": "ML-DSA-65",
        "key_id": "k",
        "context": b64(b"c"),
    }


@pytest.mark.parametrize("valid", ["true", 1, None])
def test_verify_answer_must_be_a_boolean(mode: str, valid: Any) -> None:
    with pytest.raises(APIError) as info:
        call(
            mode,
            Recorder(v1({"valid": valid})),
            "quantum.verify",
            b"m",
            Signature.from_dict(SIGNED),
        )
    assert info.value.code == "INVALID_RESPONSE"


# -- key exchange -------------------------------------------------------------------------


def test_key_exchange_three_steps_on_the_wire(mode: str) -> None:
    a_pub, b_pub, secret = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    start = {
        "session_id": "session_a",
        "public_key": b64(a_pub),
        "shared_secret": None,
        "algorithm": "X25519",
        "key_bits": 256,
        "expires_at": "2026-01-01T00:10:00Z",
    }
    rec = Recorder(v1(start))
    began = call(mode, rec, "quantum.key_exchange")
    assert type(began) is KeyExchange and not began.complete
    assert sent(rec.requests[0]) == {}
    assert began.public_key == a_pub and began.expires_at == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)

    rec = Recorder(
        v1(
            {
                **start,
                "session_id": "session_b",
                "public_key": b64(b_pub),
                "shared_secret": b64(secret),
            }
        )
    )
    answered = call(mode, rec, "quantum.key_exchange", a_pub, key_bits=256, algorithm="X25519")
    assert sent(rec.requests[0]) == {
        "peer_public_key": b64(a_pub),
        "key_bits": 256,
        "algorithm": "X25519",
    }
    assert answered.shared_secret == secret and answered.complete
    assert b64(secret) not in repr(answered) and repr(secret) not in repr(answered)

    rec = Recorder(v1({**start, "shared_secret": b64(secret)}))
    done = call(mode, rec, "quantum.key_exchange", b_pub, session_id="session_a")
    # Completing: the session's own algorithm and size apply, none is sent.
    assert sent(rec.requests[0]) == {"peer_public_key": b64(b_pub), "session_id": "session_a"}
    assert done.shared_secret == secret

    with pytest.raises(ConflictError):
        call(
            mode,
            Recorder(api_error(409, "CONFLICT")),
            "quantum.key_exchange",
            b_pub,
            session_id="session_a",
        )


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "attempts"),
    [
        ("quantum.health", (), {}, 3),
        ("quantum.entropy", (), {}, 3),
        ("quantum.list_keys", (), {}, 3),
        ("quantum.get_key", ("k",), {}, 3),
        ("quantum.delete_key", ("k",), {}, 3),
        ("quantum.decrypt", (Encrypted.from_dict(ENCRYPTED),), {}, 3),
        ("quantum.verify", (b"m", Signature.from_dict(SIGNED)), {}, 3),
        ("quantum.encrypt", (b"m",), {"key_id": "key_quantum_x"}, 3),
        ("quantum.sign", (b"m",), {"key_id": "key_sign_x"}, 3),
        # Without a key id: the account's one default key, never a second one (#18).
        ("quantum.encrypt", (b"m",), {}, 3),
        ("quantum.sign", (b"m",), {}, 3),
        # These create state, but carry the call's one Idempotency-Key on every attempt: the
        # server replays a lost answer instead of making a second key or spending a session.
        ("quantum.create_key", ("AES-256-GCM",), {}, 3),
        ("quantum.rsa", (), {}, 3),
        ("quantum.key_exchange", (), {}, 3),
        ("quantum.key_exchange", (b"p",), {"session_id": "session_a"}, 3),
    ],
)
def test_connection_errors_retry_only_safe_calls(
    mode: str,
    slept: list[float],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempts: int,
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(APIConnectionError):
        call(mode, handler, method, *args, **kwargs)
    assert len(seen) == attempts


def test_key_exchange_is_retried_after_a_short_429(mode: str, slept: list[float]) -> None:
    answer = {
        "session_id": "session_a",
        "public_key": b64(b"\x01" * 32),
        "shared_secret": None,
        "algorithm": "X25519",
        "key_bits": 256,
        "expires_at": None,
    }
    rec = Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=1), v1(answer))
    assert call(mode, rec, "quantum.key_exchange").session_id == "session_a"
    assert slept == [1.0] and len(rec.requests) == 2
