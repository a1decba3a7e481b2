"""Expensive key generation: off the request threads, and at most a few per account at once.

RSA generation from our quantum-seeded stream (rsa_keygen) is pure-Python Miller-Rabin: 0.5-
3.7 s of CPU holding the GIL, so in a request thread it stalls every other tenant's request
in the process. Here it runs in a small process pool instead:

* `spawn`/`forkserver` context, never `fork` (the server is threaded: a forked child could
  inherit a lock held by another thread);
* workers `os.nice(19)` themselves, so the node's request handling keeps the CPU;
* created on first use (a node that never makes an RSA key starts no process), shut down by
  `Runtime.stop`.

The per-account cap (`QL_EXPENSIVE_CALLS_PER_ACCOUNT`) counts calls in flight in *this
process*: a node started with `--workers N` admits up to N x the cap per account, and the
cap is not shared between nodes. A call past it is refused at once with 429
RATE_LIMIT_EXCEEDED and a Retry-After, rather than queued behind the account's own work.

The generator is a pure function of (seed, bits), so only 64 bytes go to the worker and a
DER private key comes back; the seed is still drawn from the entropy service in the caller.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from cryptography.hazmat.primitives import serialization

from quantumlock.core.errors import RateLimited
from quantumlock.crypto import rsa_keygen

# What a refused caller is told to wait: about one RSA-3072 generation on a small core.
RETRY_AFTER_SECONDS = 2


def _lower_priority() -> None:
    """Pool worker initializer: request handling comes first."""
    os.nice(19)


def generate_rsa_der(seed: bytes, bits: int) -> bytes:
    """The PKCS#8 DER private key rsa_keygen makes from `seed` (runs in a pool worker)."""
    private = rsa_keygen.generate_private_key(seed, bits)
    return private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class RsaKeygen:
    """A per-account admission cap plus a lazily started, low-priority process pool.

    `workers=0` generates in the calling thread (the CLI, unit tests); the cap still applies.
    """

    def __init__(
        self, workers: int, per_account: int, *, retry_after: int = RETRY_AFTER_SECONDS
    ) -> None:
        if workers < 0 or per_account < 1:
            raise ValueError("workers must be >= 0 and per_account >= 1")
        self.workers = workers
        self.per_account = per_account
        self.retry_after = retry_after
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    @contextmanager
    def slot(self, account_id: str) -> Iterator[None]:
        """Hold one of the account's expensive-call slots; RateLimited when none is free."""
        with self._lock:
            held = self._active.get(account_id, 0)
            if held >= self.per_account:
                raise RateLimited(
                    f"Too many key generations in progress for this account (at most "
                    f"{self.per_account} at once); retry when one has finished.",
                    retry_after=self.retry_after,
                )
            self._active[account_id] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._active[account_id] - 1
                if left:
                    self._active[account_id] = left
                else:
                    del self._active[account_id]

    def in_flight(self, account_id: str) -> int:
        with self._lock:
            return self._active.get(account_id, 0)

    def generate_rsa_der(self, seed: bytes, bits: int) -> bytes:
        """Blocks the calling (worker) thread, not the GIL, until the key is made."""
        if self.workers == 0:
            return generate_rsa_der(seed, bits)
        return self._executor().submit(generate_rsa_der, seed, bits).result()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("key generation pool is shut down")
            if self._pool is None:
                methods = multiprocessing.get_all_start_methods()
                context = multiprocessing.get_context(
                    "forkserver" if "forkserver" in methods else "spawn"
                )
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=context, initializer=_lower_priority
                )
            return self._pool

    def close(self) -> None:
        """Stop the pool (Runtime.stop); calls still waiting are cancelled."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
