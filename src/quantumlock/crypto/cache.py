"""Opened symmetric keys, kept in process memory for a short time.

A KMS answers encrypt/decrypt without a database read and an unseal per call (Vault
Transit keeps its keys in memory the same way). Entries expire after
QL_KEY_MATERIAL_CACHE_TTL seconds (0 disables the cache); destroying a key removes its
entry at once in this process and, through the change feed, in every other process.
Only symmetric keys are cached: signing and key-agreement keys take the database path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from quantumlock.core.cache import Clock, LoadingCache
from quantumlock.crypto.models import QuantumKey

CHANGE_KIND_QUANTUM_KEY = "quantum_key"

CacheKey = tuple[str, str, str]  # account id, mode, key id


@dataclass(frozen=True, slots=True)
class KeyRef:
    """What an answer says about the key it used (never material)."""

    id: str
    algorithm: str
    version: int
    quantum_verified: bool

    @classmethod
    def of(cls, row: QuantumKey) -> KeyRef:
        return cls(row.id, row.algorithm, row.version, row.quantum_verified)


@dataclass(frozen=True, slots=True)
class CachedKey(KeyRef):
    material: bytes

    def __repr__(self) -> str:  # never the material
        return f"CachedKey(id={self.id!r}, algorithm={self.algorithm!r})"


class KeyMaterialCache(LoadingCache[CacheKey, CachedKey]):
    def __init__(
        self, ttl: float, max_entries: int = 10_000, *, clock: Clock = time.monotonic
    ) -> None:
        super().__init__(ttl, max_entries=max_entries, clock=clock)

    def invalidate(self, key_id: str) -> None:
        """Forget a key (key ids are unique across tenants; destroying one is rare)."""
        self.discard_where(lambda cached, _key: cached[2] == key_id)
