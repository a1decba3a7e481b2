from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    plan: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # Per-account overrides of the plan's figures; NULL means "the plan's".
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    burst: Mapped[int | None] = mapped_column(Integer, default=None)
    licenses_per_month: Mapped[int | None] = mapped_column(Integer, default=None)
    licenses_unlimited: Mapped[bool] = mapped_column(Boolean, default=False)
