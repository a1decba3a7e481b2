"""A fake QCOS entropy service: a real HTTP server on a free local port (uvicorn in a thread).

It speaks the reference's `POST /api/v1/quantum/entropy` shape, checks the bearer key, and
can be told to misbehave: `mode` = "ok" | "fail" (HTTP 500) | "slow" (sleeps `delay` s) |
"stuck" (all-zero bytes) | "biased" (each bit 1 with probability 0.9, runs capped) | "malformed".
`hardware` decides whether it claims hardware (`quantum_verified`, QUANTUM_SECURED).
With `signing_key` set it signs each response as a real QCOS remote does (X-QCOS-Signature
over the domain tag, the request's X-QCOS-Nonce and the exact body bytes);
`tamper_signature` makes it sign something else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FAKE_KEY = "fake-qcos-key-123"


class BiasedBits:
    """Bits that are 1 with probability `p_one`, runs capped at 30 (under every repetition
    count cut-off) across all the calls, so only the adaptive proportion test can see the
    bias. The cap holds across calls because health tests stream: a run at the end of one
    response and one at the start of the next are one run to them."""

    def __init__(self, p_one: float) -> None:
        self.p_one = p_one
        self._rng = random.Random(os.urandom(8))
        self._last = ""
        self._run = 0

    def take(self, nbytes: int) -> bytes:
        bits: list[str] = []
        for _ in range(nbytes * 8):
            bit = "1" if self._rng.random() < self.p_one else "0"
            run = self._run + 1 if bit == self._last else 1
            if run > 30:
                bit, run = ("0" if bit == "1" else "1"), 1
            self._last, self._run = bit, run
            bits.append(bit)
        return int("".join(bits), 2).to_bytes(nbytes, "big")


class FakeQcos:
    def __init__(self) -> None:
        self.mode = "ok"
        self.hardware = True
        self.delay = 0.0
        self.calls = 0
        self.url = ""
        self.signing_key: Ed25519PrivateKey | None = None
        self.tamper_signature = False
        self._biased = BiasedBits(0.9)

    def _bytes(self, n: int) -> bytes:
        if self.mode == "stuck":
            return bytes(n)
        if self.mode == "biased":
            return self._biased.take(n)
        return os.urandom(n)

    async def entropy(self, request: Request) -> Response:
        self.calls += 1
        if request.headers.get("authorization") != f"Bearer {FAKE_KEY}":
            return JSONResponse({"detail": "bad key", "code": "UNAUTHORIZED"}, 401)
        if self.mode == "fail":
            return JSONResponse({"detail": "boom", "code": "INTERNAL_ERROR"}, 500)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)  # a stalled backend
        body = await request.json()
        bits = int(body["bits"])
        data = self._bytes(-(-bits // 8))
        if self.mode == "malformed":
            return JSONResponse({"entropy": "zz", "bits": bits})
        out: dict[str, Any] = {
            "entropy": data.hex(),
            "bits": bits,
            "source": "qcos_api",
            "qubits": 127 if self.hardware else None,
            "fidelity": 0.9987 if self.hardware else None,
            "timestamp": "2026-11-23T10:00:00Z",
            "job_id": f"job_qcos_{self.calls}",
        }
        if self.hardware:
            out["quantum_verified"] = True
            out["security_level"] = "QUANTUM_SECURED"
        else:
            out["quantum_verified"] = False
            out["security_level"] = "CRYPTOGRAPHIC"
        if self.signing_key is None:
            return JSONResponse(out)
        body_bytes = json.dumps(out).encode()
        nonce = request.headers.get("x-qcos-nonce", "")
        signed = b"QCOS-ENTROPY-v1\x00" + nonce.encode() + b"\x00" + body_bytes
        if self.tamper_signature:
            signed += b"x"
        signature = base64.b64encode(self.signing_key.sign(signed)).decode()
        return Response(
            body_bytes,
            media_type="application/json",
            headers={"X-QCOS-Signature": signature},
        )


@contextmanager
def running_fake_qcos() -> Iterator[FakeQcos]:
    fake = FakeQcos()
    app = Starlette(routes=[Route("/api/v1/quantum/entropy", fake.entropy, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake QCOS server did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
