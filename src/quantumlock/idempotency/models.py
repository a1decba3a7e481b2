"""The stored first answers of idempotent requests. The answer is only ever stored sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base
from quantumlock.keyring.registry import register_sealed


class IdempotencyRecord(Base):
    """One `Idempotency-Key` of one account and mode: claimed (in flight) or answered.

    Scoped by account and mode in its primary key, so one tenant's key never meets another's.
    """

    __tablename__ = "idempotency_records"

    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)  # live | test
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 (hex) of method, path and canonical body: the same key with another request
    # is refused, never answered with the first request's answer.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Random per claim: only the request that holds the claim may answer or release it.
    token: Mapped[str] = mapped_column(String(32))
    # When the key was first used (the 24 h window; pruning) and when it was last claimed.
    created_at: Mapped[datetime] = mapped_column(index=True)
    locked_at: Mapped[datetime]
    # NULL while in flight; the answer's status once answered.
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    # The answer (body and headers), sealed: it may hold a secret shown once (a new API key,
    # exportable key material, a shared secret) and a license key.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


def record_aad(account_id: str, mode: str, key: str) -> bytes:
    """Binds a sealed answer to its account, mode and key: copied to another row, it does not
    open."""
    return b"idempotency/v1\x00" + b"\x00".join(v.encode() for v in (account_id, mode, key))


register_sealed(
    IdempotencyRecord.sealed,
    key=(IdempotencyRecord.account_id, IdempotencyRecord.mode, IdempotencyRecord.key),
    aad=record_aad,
)
