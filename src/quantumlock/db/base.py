from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Integer, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class ChangeEvent(Base):
    """Append-only feed of changes that other processes must see (CLI edits, other nodes).

    Every node polls it by id, so a key revoked or a limit changed anywhere reaches every
    node's in-memory caches within the poll interval, with or without Redis.
    """

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class MasterKeyCanary(Base):
    """A known value sealed under the master key at `init`: a node whose key cannot open it
    holds the wrong key, and refuses to start rather than refuse every request."""

    __tablename__ = "master_key_canary"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
