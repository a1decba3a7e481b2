"""The RSA keygen pool and its per-account cap (#16 finding 4)."""

from __future__ import annotations

import os
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from quantumlock.core.errors import RateLimited
from quantumlock.crypto import rsa_keygen
from quantumlock.crypto.keygen_pool import RsaKeygen


def test_pool_makes_the_same_key_as_in_thread_generation() -> None:
    seed = os.urandom(rsa_keygen.SEED_BYTES)
    pool = RsaKeygen(workers=1, per_account=2)
    try:
        der = pool.generate_rsa_der(seed, 2048)
    finally:
        pool.close()
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    expected = rsa_keygen.generate_private_key(seed, 2048).private_numbers()
    assert key.private_numbers() == expected  # the seed alone decides the key
    with pytest.raises(RuntimeError, match="shut down"):
        pool.generate_rsa_der(seed, 2048)


def test_cap_is_per_account_and_released() -> None:
    gate = RsaKeygen(workers=0, per_account=2, retry_after=3)
    with gate.slot("a"), gate.slot("a"):
        with pytest.raises(RateLimited) as refused, gate.slot("a"):
            pass
        assert refused.value.retry_after == 3
        with gate.slot("b"):  # another account is not affected
            assert gate.in_flight("b") == 1
    assert gate.in_flight("a") == 0
    with gate.slot("a"):
        pass


def test_cap_holds_under_concurrency() -> None:
    gate = RsaKeygen(workers=0, per_account=3)
    inside, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()
    refused: list[int] = []

    def call() -> None:
        try:
            with gate.slot("a"):
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                release.wait(5)
                with lock:
                    inside[0] -= 1
        except RateLimited:
            refused.append(1)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    while len(refused) + gate.in_flight("a") < 10:
        pass
    release.set()
    for t in threads:
        t.join()
    assert peak[0] == 3 and len(refused) == 7
