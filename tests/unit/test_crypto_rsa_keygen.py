"""RSA from quantum-seeded primes: the stream, Miller-Rabin, and the FIPS 186-5 key checks."""

from __future__ import annotations

import hashlib
import math
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from quantumlock.crypto.rsa_keygen import (
    MR_ROUNDS,
    E,
    ShakeStream,
    generate_prime,
    generate_private_key,
    is_probable_prime,
)

# Composites that fool weak tests: Carmichael numbers (Fermat liars for every coprime
# base) and strong pseudoprimes to small bases.
CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265, 321197185]
STRONG_PSEUDOPRIMES = [2047, 3277, 4033, 4681, 8321, 3215031751, 3825123056546413051]
MERSENNE_PRIMES = [2**61 - 1, 2**89 - 1, 2**107 - 1, 2**127 - 1, 2**521 - 1]


def stream(tag: bytes = b"test") -> ShakeStream:
    return ShakeStream(hashlib.sha3_256(tag).digest() * 2)


def test_stream_is_shake256_counter_mode_and_deterministic() -> None:
    seed = bytes(range(64))
    a, b = ShakeStream(seed), ShakeStream(seed)
    first = a.read(10) + a.read(5000)
    assert first == b.read(5010)
    expected = hashlib.shake_256(seed + (0).to_bytes(8, "big")).digest(4096)
    expected += hashlib.shake_256(seed + (1).to_bytes(8, "big")).digest(4096)
    assert first == expected[:5010]
    assert ShakeStream(bytes(64)).read(32) != ShakeStream(bytes(63) + b"\x01").read(32)
    with pytest.raises(ValueError):
        ShakeStream(bytes(31))


def test_below_stays_in_range_and_covers_it() -> None:
    s = stream()
    values = [s.below(10) for _ in range(2000)]
    assert set(values) == set(range(10))
    assert all(0 <= s.below(2**100 + 7) < 2**100 + 7 for _ in range(100))
    assert s.below(1) == 0
    with pytest.raises(ValueError):
        s.below(0)


def test_miller_rabin_against_known_numbers() -> None:
    small_primes = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]
    for n in range(3, 2000, 2):
        assert is_probable_prime(n, 5, stream()) is (n in small_primes), n
    for n in MERSENNE_PRIMES:
        assert is_probable_prime(n, 5, stream())
    for n in CARMICHAEL + STRONG_PSEUDOPRIMES + [(2**61 - 1) * (2**89 - 1)]:
        assert not is_probable_prime(n, 5, stream()), n
    assert is_probable_prime(2, 1, stream()) and not is_probable_prime(4, 1, stream())


def test_primes_have_the_requested_shape() -> None:
    s = stream(b"primes")
    for _ in range(3):
        p = generate_prime(s, 512, 5)
        assert p.bit_length() == 512
        assert p >> 510 == 0b11  # top two bits: p >= sqrt(2) * 2^511
        assert math.gcd(p - 1, E) == 1
        assert pow(3, p - 1, p) == 1


def test_key_is_a_function_of_the_seed_and_meets_fips_186_5() -> None:
    seed = os.urandom(64)
    key = generate_private_key(seed, 2048)
    again = generate_private_key(seed, 2048)
    other = generate_private_key(os.urandom(64), 2048)
    n = key.private_numbers()
    assert n.p == again.private_numbers().p and n.q == again.private_numbers().q
    assert n.p != other.private_numbers().p
    pub = n.public_numbers
    assert pub.e == E and pub.n == n.p * n.q and pub.n.bit_length() == 2048
    assert abs(n.p - n.q) > 2 ** (1024 - 100)
    lam = math.lcm(n.p - 1, n.q - 1)
    assert (n.d * E) % lam == 1 and n.d > 2**1024
    # pyca accepts it and it signs and verifies (the scheme the API uses for it).
    pss = padding.PSS(padding.MGF1(hashes.SHA3_512()), padding.PSS.DIGEST_LENGTH)
    signature = key.sign(b"m", pss, hashes.SHA3_512())
    key.public_key().verify(signature, b"m", pss, hashes.SHA3_512())


def test_sizes_and_rounds() -> None:
    assert MR_ROUNDS == {2048: 5, 3072: 4, 4096: 4}
    with pytest.raises(ValueError):
        generate_private_key(os.urandom(64), 1024)
