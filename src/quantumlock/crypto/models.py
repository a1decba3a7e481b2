"""Keystore and key-exchange tables. Secret material is only ever stored sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base
from quantumlock.keyring.registry import register_sealed


class QuantumKey(Base):
    """A tenant's key: symmetric, signing, key-agreement or RSA."""

    __tablename__ = "quantum_keys"
    __table_args__ = (
        Index("ix_quantum_keys_listing", "account_id", "mode", "created_at"),
        # One default key per account, mode and algorithm: concurrent first calls of encrypt
        # or sign without key_id race on this index, and the loser uses the winner's key.
        Index("uq_quantum_keys_default", "account_id", "mode", "default_for", unique=True),
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # key_quantum_… etc.
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    mode: Mapped[str] = mapped_column(String(8))  # live | test
    type: Mapped[str] = mapped_column(String(16))  # symmetric | signing | key_agreement | rsa
    algorithm: Mapped[str] = mapped_column(String(32))
    bits: Mapped[int | None] = mapped_column(Integer, default=None)  # RSA modulus size
    source: Mapped[str] = mapped_column(String(32))
    security_level: Mapped[str] = mapped_column(String(32))
    quantum_verified: Mapped[bool] = mapped_column(Boolean)
    fidelity: Mapped[float | None] = mapped_column(Float, default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Random-IV AEAD invocations handed out under this key version (SP 800-38D 8.3 caps
    # them below 2**32); nodes reserve blocks of them so the hot path writes nothing.
    invocations: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    exportable: Mapped[bool] = mapped_column(Boolean)
    public_key: Mapped[str | None] = mapped_column(Text, default=None)  # PEM
    # Sealed under the master key (`key_aad`); NULL once the key is destroyed.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_by: Mapped[str | None] = mapped_column(String(32), default=None)  # API key id
    # The algorithm this key is the default for (encrypt/sign without key_id), else NULL
    # (NULLs never collide in the unique index). Cleared when the key is destroyed, so the
    # next such call makes a new default.
    default_for: Mapped[str | None] = mapped_column(String(32), default=None)


def key_aad(key_id: str, account_id: str, mode: str) -> bytes:
    """Binds sealed material to its key, account and mode: a blob copied to another
    tenant's row (or a row given another account_id) does not open."""
    return b"quantum-key/v2\x00" + b"\x00".join(v.encode() for v in (key_id, account_id, mode))


def legacy_key_aad(key_id: str) -> bytes:
    """The AAD before #16 (the id alone): only `keyring.rewrap.reseal_legacy` uses it."""
    return b"quantum-key:" + key_id.encode()


register_sealed(
    QuantumKey.sealed,
    key=(QuantumKey.id,),
    aad=key_aad,
    aad_from=(QuantumKey.id, QuantumKey.account_id, QuantumKey.mode),
    legacy_aad=legacy_key_aad,
)


class KeyExchangeSession(Base):
    """The initiator's half of a key exchange: single use, expires after 10 minutes."""

    __tablename__ = "key_exchange_sessions"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # session_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(8))
    algorithm: Mapped[str] = mapped_column(String(32))
    key_bits: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The private half, sealed; NULL once the session is completed.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


def session_aad(session_id: str, account_id: str, mode: str) -> bytes:
    """Binds a sealed private half to its session row, account and mode."""
    return b"kex-session/v2\x00" + b"\x00".join(v.encode() for v in (session_id, account_id, mode))


def legacy_session_aad(session_id: str) -> bytes:
    """The AAD before #16: only `keyring.rewrap.reseal_legacy` uses it."""
    return b"kex-session:" + session_id.encode()


register_sealed(
    KeyExchangeSession.sealed,
    key=(KeyExchangeSession.id,),
    aad=session_aad,
    aad_from=(KeyExchangeSession.id, KeyExchangeSession.account_id, KeyExchangeSession.mode),
    legacy_aad=legacy_session_aad,
)
