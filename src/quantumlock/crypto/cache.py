"""Opened symmetric keys, kept in process memory for a short time.

A KMS answers encrypt/decrypt without a database read and an unseal per call (Vault
Transit keeps its keys in memory the same way). Entries expire after
QL_KEY_MATERIAL_CACHE_TTL seconds (0 disables the cache); destroying a key removes its
entry at once in this process and, through the change feed, in every other process.
Only symmetric keys are cached: signing and key-agreement keys take the database path.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantumlock.core.ttlcache import TtlCache

CHANGE_KIND_QUANTUM_KEY = "quantum_key"

CacheKey = tuple[str, str, str]  # account id, mode, key id


@dataclass(frozen=True, slots=True)
class CachedKey:
    id: str
    algorithm: str
    version: int
    quantum_verified: bool
    material: bytes

    def __repr__(self) -> str:  # never the material
        return f"CachedKey(id={self.id!r}, algorithm={self.algorithm!r})"


class KeyMaterialCache(TtlCache[CacheKey, CachedKey]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        super().__init__(ttl, max_entries)

    def invalidate(self, key_id: str) -> None:
        """Forget a key (key ids are unique across tenants; destroying one is rare)."""
        self.discard_where(lambda cached: cached[2] == key_id)
