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


# What each scope lets a key do, in the words of the README's scope table; forms that offer
# scopes (the portal) show these beside each checkbox.
DESCRIPTIONS: dict[Scope, str] = {
    Scope.ADMIN: "Everything below, and managing API keys. Only an owner can grant it.",
    Scope.LICENSES_WRITE: "Generate, revoke, suspend, reinstate and renew licenses "
    "(includes reading and validating them).",
    Scope.LICENSES_READ: "List and get licenses.",
    Scope.LICENSES_VALIDATE: "Validate licenses online, and fetch the signing keys for "
    "offline license files.",
    Scope.ACCOUNT_READ: "Read the account and its statistics.",
    Scope.QUANTUM_ENTROPY: "Quantum entropy and the entropy sources' health.",
    Scope.QUANTUM_KEYS: "The quantum keystore (generate, list and fetch keys).",
    Scope.QUANTUM_CRYPTO: "Encrypt, decrypt, sign, verify and key exchange.",
    Scope.OPTIMIZE_READ: "Reserved (QCOS Core compatibility): no route checks it yet.",
    Scope.OPTIMIZE_WRITE: "Reserved (QCOS Core compatibility): no route checks it yet.",
    Scope.BACKENDS_READ: "Reserved (QCOS Core compatibility): no route checks it yet.",
    Scope.EVIDENCE_READ: "Reserved (QCOS Core compatibility): no route checks it yet.",
    Scope.EVIDENCE_WRITE: "Reserved (QCOS Core compatibility): no route checks it yet.",
}

# The scopes grouped by what they are about, in the order forms show them; every scope is in
# exactly one area.
AREAS: tuple[tuple[str, tuple[Scope, ...]], ...] = (
    (
        "Licensing",
        (Scope.LICENSES_READ, Scope.LICENSES_VALIDATE, Scope.LICENSES_WRITE),
    ),
    ("Quantum", (Scope.QUANTUM_ENTROPY, Scope.QUANTUM_KEYS, Scope.QUANTUM_CRYPTO)),
    ("Account", (Scope.ACCOUNT_READ, Scope.ADMIN)),
    (
        "QCOS Core (reserved)",
        (
            Scope.OPTIMIZE_READ,
            Scope.OPTIMIZE_WRITE,
            Scope.BACKENDS_READ,
            Scope.EVIDENCE_READ,
            Scope.EVIDENCE_WRITE,
        ),
    ),
)
