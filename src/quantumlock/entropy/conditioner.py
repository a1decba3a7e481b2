"""Conditioning: no raw source bit ever leaves the service.

Each 64-byte output block is

    SHA3-512( "QL-ENTROPY-v1" 0x00 source 0x00 ‖ counter (8 bytes, big-endian)
              ‖ len(raw) (4 bytes) ‖ raw block ‖ os.urandom(64) )

* `raw block` is `RAW_PER_BLOCK` = 128 health-tested bytes of the source: twice the output
  length, so even at the lowest min-entropy any source claims (0.8 bit per bit, qcos_api)
  each block takes in 819 bits of claimed source entropy for 512 bits out (SP 800-90B §3.1.5.1
  asks for at least output + 64 bits into a vetted conditioning function for full entropy).
* 64 bytes of the OS CSPRNG per block: the output is never weaker than `os.urandom`, even if
  a source is broken in a way the health tests cannot see (a simulator is a PRNG, a remote
  service might lie).
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
