"""An SDK default is never sent: a parameter the caller leaves out stays out of the request.

The server's default then applies, and a call that continues server state gets what that
state says. The SDK once sent `algorithm="X25519"` on every key exchange, so completing an
`X25519-ML-KEM-768` session, as the README shows, failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.sdk.conftest import Recorder, call, ok

KEX: dict[str, Any] = {
    "session_id": "kex_a",
    "public_key": "AQ==",
    "shared_secret": None,
    "algorithm": "X25519-ML-KEM-768",
    "key_bits": 256,
    "expires_at": "2026-01-01T00:10:00Z",
}
QKEY: dict[str, Any] = {
    "key_id": "key_quantum_a",
    "algorithm": "RSA",
    "type": "rsa",
    "source": "cryptographic",
    "security_level": "CRYPTOGRAPHIC",
    "quantum_verified": False,
    "version": 1,
    "exportable": False,
    "public_key": None,
    "created_at": "2026-01-01T00:00:00Z",
}
ROTATED: dict[str, Any] = {
    "id": "key_new",
    "name": "ci",
    "type": "live",
    "mode": "live",
    "prefix": "qcos_live_AbCd...",
    "scopes": [],
    "created_at": "2026-01-01T00:00:00Z",
    "last_used_at": None,
    "expires_at": None,
    "revoked_at": None,
    "key": "qcos_live_" + "S" * 38,
    "rotated_from": "key_abc",
    "previous_key_expires_at": "2026-01-02T00:00:00Z",
}
ENCRYPTED: dict[str, Any] = {
    "ciphertext": "AA==",
    "key_id": "key_quantum_a",
    "iv": "AAAAAAAAAAAAAAAA",
    "tag": "AAAAAAAAAAAAAAAAAAAAAA==",
    "algorithm": "ChaCha20-Poly1305",
    "quantum_secured": False,
    "key_version": 1,
}


def bare(body: Any, status: int = 200) -> Callable[[], httpx.Response]:
    """A fresh answer per call: a response's stream is read once (and sync or async)."""
    return lambda: httpx.Response(status, json=body)


# (method, args, the answer, the JSON body or query that must go out: only what was given)
Answer = Callable[[], httpx.Response]
CALLS: list[tuple[str, tuple[Any, ...], Answer, dict[str, Any]]] = [
    ("quantum.key_exchange", (b"\x02",), bare(KEX), {"peer_public_key": "Ag=="}),
    ("quantum.key_exchange", (), bare(KEX), {}),
    ("quantum.entropy", (), bare({"entropy": "00", "bits": 8, "source": "cryptographic"}), {}),
    ("quantum.create_key", ("AES-256-GCM",), bare(QKEY, 201), {"algorithm": "AES-256-GCM"}),
    ("quantum.rsa", (), bare(QKEY, 201), {}),
    ("quantum.encrypt", (b"\x00",), bare(ENCRYPTED), {"plaintext": "AA=="}),
    ("keys.rotate", ("key_abc",), lambda: ok(ROTATED, 201), {}),
]
QUERIES: list[tuple[str, Answer]] = [
    ("licenses.list", bare({"total": 0, "skip": 0, "limit": 100, "licenses": []})),
    ("quantum.list_keys", bare({"keys": [], "total": 0, "skip": 0, "limit": 100})),
]


@pytest.mark.parametrize(("method", "args", "answer", "body"), CALLS, ids=[c[0] for c in CALLS])
def test_a_body_holds_only_what_the_caller_gave(
    mode: str, method: str, args: tuple[Any, ...], answer: Answer, body: dict[str, Any]
) -> None:
    rec = Recorder(answer())
    call(mode, rec, method, *args)
    assert json.loads(rec.requests[0].content) == body


@pytest.mark.parametrize(("method", "answer"), QUERIES, ids=[q[0] for q in QUERIES])
def test_a_list_sends_no_paging_it_was_not_given(mode: str, method: str, answer: Answer) -> None:
    rec = Recorder(answer())
    call(mode, rec, method)
    assert dict(rec.requests[0].url.params) == {}


def test_completing_a_key_exchange_sends_no_algorithm(mode: str) -> None:
    """The README's step 4: the session's algorithm (here the hybrid) must decide."""
    rec = Recorder(bare({**KEX, "shared_secret": "AAAA"})())
    call(mode, rec, "quantum.key_exchange", b"\x02", session_id="kex_a")
    assert json.loads(rec.requests[0].content) == {"peer_public_key": "Ag==", "session_id": "kex_a"}
