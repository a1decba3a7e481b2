"""The sealed-column registry: every column that holds a sealed blob, with its AAD.

A domain registers each sealed column right under its model (``register_sealed``), giving
the associated-data function its service seals and opens with, so the two can never drift
apart. Master-key rotation re-wraps, retirement counts and `init` re-seals exactly what is
registered, and refuses to run while the metadata holds a sealed-looking column (a
``LargeBinary`` named ``sealed*``) that nobody registered: that column would otherwise be
skipped by the rotation and lost when the old key is retired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData
from sqlalchemy.orm import InstrumentedAttribute

from quantumlock.keyring.sealing import KeyringError

Aad = Callable[..., bytes]


@dataclass(frozen=True)
class SealedColumn:
    name: str  # table.column, for reports
    primary_key: tuple[InstrumentedAttribute[Any], ...]
    column: InstrumentedAttribute[Any]
    # Called with the values of `aad_columns`, positionally: the function the service uses.
    aad: Aad
    # The row's columns the AAD is built from, when more than the primary key (the owning
    # account and mode: a blob moved to another tenant's row must not open).
    aad_from: tuple[InstrumentedAttribute[Any], ...] = ()
    # The AAD an older release sealed this column under, called with the primary key's
    # values; `rewrap.reseal_legacy` moves such blobs once (run by `quantumlock init`).
    legacy_aad: Aad | None = None

    @property
    def aad_columns(self) -> tuple[InstrumentedAttribute[Any], ...]:
        return self.aad_from or self.primary_key

    def aad_of(self, values: Sequence[Any]) -> bytes:
        return self.aad(*values)


_REGISTRY: dict[str, SealedColumn] = {}


def _name(column: InstrumentedAttribute[Any]) -> str:
    table = column.class_.__table__.name
    return f"{table}.{column.property.columns[0].name}"


def register_sealed(
    column: InstrumentedAttribute[Any],
    *,
    key: Sequence[InstrumentedAttribute[Any]],
    aad: Aad,
    aad_from: Sequence[InstrumentedAttribute[Any]] = (),
    legacy_aad: Aad | None = None,
) -> SealedColumn:
    """Declare `column` sealed under `aad` (called with the values of `aad_from`, else of
    the primary key `key`). Registering one column twice is a programming error."""
    sealed = SealedColumn(_name(column), tuple(key), column, aad, tuple(aad_from), legacy_aad)
    if sealed.name in _REGISTRY:
        raise ValueError(f"sealed column {sealed.name} is registered twice")
    _REGISTRY[sealed.name] = sealed
    return sealed


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every registered column, by name (the order reports and passes follow, whatever
    order the domains were imported in)."""
    return tuple(_REGISTRY[name] for name in sorted(_REGISTRY))


def looks_sealed(column: Column[Any]) -> bool:
    return column.name.startswith("sealed") and isinstance(column.type, LargeBinary)


def unregistered(metadata: MetaData) -> list[str]:
    """The sealed-looking columns of `metadata` no domain registered."""
    return sorted(
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if looks_sealed(column) and f"{table.name}.{column.name}" not in _REGISTRY
    )


def require_complete(metadata: MetaData) -> tuple[SealedColumn, ...]:
    """The registered columns, or KeyringError if `metadata` holds one nobody registered."""
    missing = unregistered(metadata)
    if missing:
        raise KeyringError(
            "sealed column(s) not in the keyring registry: "
            + ", ".join(missing)
            + " (register them with quantumlock.keyring.registry.register_sealed)"
        )
    return sealed_columns()
