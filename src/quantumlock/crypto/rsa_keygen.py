"""RSA key generation whose primes come from the quantum-seeded generator.

`rsa.generate_private_key` draws from OpenSSL's RNG, so the primes would owe nothing to
the entropy service. Here a SHAKE-256 stream seeded with 64 bytes of
`runtime.entropy.draw` yields the prime candidates (FIPS 186-5 A.1.3: top two bits set,
so p, q >= sqrt(2) * 2^(k-1)) and the Miller-Rabin witnesses. Composites are thrown out
by a gcd with the product of the small primes before any Miller-Rabin round. pyca then
builds (and checks) the key from the numbers.
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

E: Final = 65537
SEED_BYTES: Final = 64
ALLOWED_BITS: Final = (2048, 3072, 4096)
# Minimum Miller-Rabin rounds for probable primes p, q of nlen/2 bits, FIPS 186-5
# Appendix B.3.1 with Table B.1 (error probability <= 2^-112, 2^-128, 2^-144).
MR_ROUNDS: Final[dict[int, int]] = {2048: 5, 3072: 4, 4096: 4}
_SMALL_PRIMES: Final = [
    p for p in range(3, 10_000, 2) if all(p % d for d in range(3, 100, 2) if d < p)
]
_SIEVE: Final = math.prod(_SMALL_PRIMES)


class ShakeStream:
    """A deterministic byte stream: SHAKE-256(seed || counter), 4 KiB per block."""

    _BLOCK = 4096

    def __init__(self, seed: bytes) -> None:
        if len(seed) < 32:
            raise ValueError("seed must be at least 32 bytes")
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(
                self._BLOCK
            )
            self._counter += 1
            self._buffer += block
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def below(self, upper: int) -> int:
        """Uniform in [0, upper) by rejection sampling."""
        if upper < 1:
            raise ValueError("upper must be positive")
        nbits = upper.bit_length()
        nbytes = (nbits + 7) // 8
        while True:
            value = int.from_bytes(self.read(nbytes), "big") >> (8 * nbytes - nbits)
            if value < upper:
                return value


def is_probable_prime(w: int, rounds: int, stream: ShakeStream) -> bool:
    """Miller-Rabin (FIPS 186-5 B.3.1) with witnesses drawn from `stream`."""
    if w < 5 or w % 2 == 0:
        return w in (2, 3)
    m, a = w - 1, 0
    while m % 2 == 0:
        m //= 2
        a += 1
    for _ in range(rounds):
        b = 2 + stream.below(w - 3)  # 1 < b < w - 1
        z = pow(b, m, w)
        if z in (1, w - 1):
            continue
        for _ in range(a - 1):
            z = pow(z, 2, w)
            if z == w - 1:
                break
            if z == 1:
                return False
        else:
            return False
    return True


def _candidate(stream: ShakeStream, bits: int) -> int:
    value = int.from_bytes(stream.read(bits // 8), "big")
    return value | (0b11 << (bits - 2)) | 1


def generate_prime(stream: ShakeStream, bits: int, rounds: int) -> int:
    while True:
        w = _candidate(stream, bits)
        if math.gcd(w, _SIEVE) != 1:
            continue
        if math.gcd(w - 1, E) != 1:
            continue
        if is_probable_prime(w, rounds, stream):
            return w


def _primes(stream: ShakeStream, bits: int) -> tuple[int, int, int]:
    """(p, q, d) with p > q, meeting FIPS 186-5 A.1.3's distance and size checks."""
    half, rounds = bits // 2, MR_ROUNDS[bits]
    while True:
        p = generate_prime(stream, half, rounds)
        q = generate_prime(stream, half, rounds)
        # |p - q| > 2^(nlen/2 - 100) and d > 2^(nlen/2).
        if abs(p - q) <= 1 << (half - 100):
            continue
        d = pow(E, -1, math.lcm(p - 1, q - 1))
        if d <= 1 << half:
            continue
        return (p, q, d) if p > q else (q, p, d)


def generate_private_key(seed: bytes, bits: int = 3072) -> rsa.RSAPrivateKey:
    """An RSA key (e = 65537) whose primes are a deterministic function of `seed`."""
    if bits not in ALLOWED_BITS:
        raise ValueError(f"bits must be one of {ALLOWED_BITS}")
    stream = ShakeStream(seed)
    p, q, d = _primes(stream, bits)
    public = rsa.RSAPublicNumbers(E, p * q)
    return rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=public,
    ).private_key()
