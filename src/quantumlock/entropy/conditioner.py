"""Conditioning: no raw source bit ever leaves the service.

Each 64-byte output block is

    SHA3-512( "QL-ENTROPY-v1" 0x00 source 0x00 ‖ counter (8 bytes, big-endian)
              ‖ len(raw) (4 bytes) ‖ raw block ‖ os.urandom(64) )

* `raw block` is `RAW_PER_BLOCK` = 128 health-tested bytes of the source. What they are
  *credited* with is only what the source can be shown to carry (`Draw.source_entropy_bits`):
  a verified hardware remote 0.8 bit per bit, the simulator at most its 63-bit seed per run
  (shared by every block of that run), a remote of unproven nature nothing.
* 64 bytes of the OS CSPRNG per block: 512 bits of full entropy for 512 bits out, so the
  output is never weaker than `os.urandom` (SP 800-90B §3.1.5.1's output + 64 bits into a
  vetted conditioning function is met by the source's credit plus the OS input whenever
  the source carries 64 bits or more; the OS input alone is what a CSPRNG-only node has).
* The counter (per service, never repeating in a process) and the domain tag keep any two
  blocks' inputs distinct.
"""

from __future__ import annotations

import os
import threading

from cryptography.hazmat.primitives import hashes

BLOCK = 64  # SHA3-512 output bytes
RAW_PER_BLOCK = 2 * BLOCK
OS_PER_BLOCK = 64
DOMAIN = b"QL-ENTROPY-v1\x00"


def raw_bytes_needed(nbytes: int) -> int:
    """How many raw source bytes `condition` consumes for `nbytes` of output."""
    return -(-nbytes // BLOCK) * RAW_PER_BLOCK


class Conditioner:
    def __init__(self) -> None:
        self._counter = 0
        self._lock = threading.Lock()

    def _next_counter(self, blocks: int) -> int:
        with self._lock:
            first = self._counter
            self._counter += blocks
            return first

    def condition(self, raw: bytes, nbytes: int, source: str) -> bytes:
        """`nbytes` of output from `raw` (exactly `raw_bytes_needed(nbytes)` bytes long)."""
        blocks = -(-nbytes // BLOCK)
        if len(raw) != blocks * RAW_PER_BLOCK:
            raise ValueError(f"need {blocks * RAW_PER_BLOCK} raw bytes, got {len(raw)}")
        tag = DOMAIN + source.encode() + b"\x00"
        counter = self._next_counter(blocks)
        out = bytearray()
        for i in range(blocks):
            chunk = raw[i * RAW_PER_BLOCK : (i + 1) * RAW_PER_BLOCK]
            digest = hashes.Hash(hashes.SHA3_512())
            digest.update(tag)
            digest.update((counter + i).to_bytes(8, "big"))
            digest.update(len(chunk).to_bytes(4, "big"))
            digest.update(chunk)
            digest.update(os.urandom(OS_PER_BLOCK))
            out += digest.finalize()
        return bytes(out[:nbytes])
