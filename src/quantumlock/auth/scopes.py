"""Scopes are a closed vocabulary; `admin` implies every other one."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    OPTIMIZE_READ = "optimize:read"
    OPTIMIZE_WRITE = "optimize:write"
    BACKENDS_READ = "backends:read"
    EVIDENCE_READ = "evidence:read"
    EVIDENCE_WRITE = "evidence:write"
    ADMIN = "admin"
    LICENSES_READ = "licenses:read"
    LICENSES_WRITE = "licenses:write"
    LICENSES_VALIDATE = "licenses:validate"
    ACCOUNT_READ = "account:read"
    QUANTUM_ENTROPY = "quantum:entropy"
    QUANTUM_KEYS = "quantum:keys"
    QUANTUM_CRYPTO = "quantum:crypto"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)
NON_ADMIN_SCOPES: frozenset[Scope] = ALL_SCOPES - {Scope.ADMIN}

# Scopes that a held scope grants besides itself.
_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.ADMIN: NON_ADMIN_SCOPES,
    Scope.LICENSES_WRITE: frozenset({Scope.LICENSES_VALIDATE, Scope.LICENSES_READ}),
}


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Raises ValueError naming the first unknown scope."""
    out = set()
    for value in values:
        try:
            out.add(Scope(value))
        except ValueError:
            raise ValueError(f"Unknown scope {value!r}.") from None
    return frozenset(out)


def expand(scopes: Iterable[Scope]) -> frozenset[Scope]:
    held = set(scopes)
    for scope in list(held):
        held |= _IMPLIES.get(scope, frozenset())
    return frozenset(held)


_ORDER = {s.value: i for i, s in enumerate(Scope)}


def sort_scopes(scopes: Iterable[Scope | str]) -> list[str]:
    """The documented order (as in the reference's scope table), for stable output."""
    return sorted((str(s) for s in scopes), key=lambda s: _ORDER.get(s, len(_ORDER)))
