from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Kept so a rotation can give the new key the same lifetime the old one was made with.
    lifetime_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    rotated_from: Mapped[str | None] = mapped_column(String(32), default=None)
    # The caller's own labels (a JSON object), as licenses have; never part of authentication.
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON, default=dict, server_default="{}"
    )


class ApiKeyEvent(Base):
    """Append-only audit of API-key changes (create, revoke, rotate): which key, by whom
    (the acting key's id, or `cli` for the operator), when. Never a secret or a hash."""

    __tablename__ = "api_key_events"
    __table_args__ = (Index("ix_api_key_events_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    api_key_id: Mapped[str] = mapped_column(String(32))
    # The changed key's mode: a test key's audit shows test-mode keys only.
    mode: Mapped[str] = mapped_column(String(8))
    actor_key_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]


class KeyUsageDaily(Base):
    """Requests per API key (or OAuth client / service account) and UTC day, and how many of
    them were refused with 429: the portal's usage charts. Counted in memory on the request
    path and added here in batches (quantumlock.core.counters), so the hot path never writes."""

    __tablename__ = "key_usage_daily"
    __table_args__ = (Index("ix_key_usage_daily_account_day", "account_id", "day"),)

    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-12-03" (UTC)
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)  # answered 429
