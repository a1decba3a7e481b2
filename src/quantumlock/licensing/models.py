from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base
from quantumlock.keyring.registry import register_sealed


class License(Base):
    __tablename__ = "licenses"
    __table_args__ = (
        UniqueConstraint("account_id", "license_key"),
        Index("ix_licenses_listing", "account_id", "mode", "created_at"),
        Index("ix_licenses_customer", "account_id", "mode", "end_customer_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    mode: Mapped[str] = mapped_column(String(8))
    license_key: Mapped[str] = mapped_column(String(32))
    end_customer_id: Mapped[str] = mapped_column(String(256))
    features: Mapped[list[str]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    status: Mapped[str] = mapped_column(String(16))
    # Bumped on every change and covered by quantum_signature with the status; 0 marks a row
    # signed before the status was (re-signed by `quantumlock init`).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="0")
    valid_until: Mapped[datetime]
    generated_at: Mapped[datetime]
    created_at: Mapped[datetime]
    quantum_signature: Mapped[str] = mapped_column(String(128))
    quantum_verified: Mapped[bool] = mapped_column(Boolean)
    qcos_fidelity: Mapped[float | None] = mapped_column(Float, default=None)
    security_level: Mapped[str] = mapped_column(String(32))
    signing_kid: Mapped[str] = mapped_column(String(32))
    license_file: Mapped[str] = mapped_column(Text)

    # The service sets the version itself (it is signed), and every UPDATE names the version
    # it read: two concurrent changes to one license cannot both apply (StaleDataError).
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class LicenseEvent(Base):
    """Append-only audit of lifecycle changes: who (key id), what, when."""

    __tablename__ = "license_events"
    # The account's audit trail (GET /api/v2/audit) reads by account, newest first.
    __table_args__ = (Index("ix_license_events_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("licenses.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]


class LicenseUsage(Base):
    """Live licenses generated per account and calendar month (UTC): the quota counter."""

    __tablename__ = "license_usage"

    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-11"
    used: Mapped[int] = mapped_column(Integer, default=0)


class AccountSecret(Base):
    """Per-account secrets, sealed under the master key (`account_secret_aad`)."""

    __tablename__ = "account_secrets"

    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


def account_secret_aad(account_id: str, purpose: str) -> bytes:
    """Binds a sealed secret to its account and purpose."""
    return f"{account_id}:{purpose}".encode()


register_sealed(
    AccountSecret.sealed,
    key=(AccountSecret.account_id, AccountSecret.purpose),
    aad=account_secret_aad,
)


class SigningKey(Base):
    """A license-file signing key pair: Ed25519 and ML-DSA-65, used together."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    alg: Mapped[str] = mapped_column(String(32))
    # live | test: test-mode licenses are signed with test-mode keys, published apart.
    mode: Mapped[str] = mapped_column(String(8), default="live", server_default="live")
    status: Mapped[str] = mapped_column(String(16))  # active | verify_only | retired
    # While this is the active key of its account and mode: the account id (live) or
    # "<account id>:test", else NULL. Unique, so two requests racing to create the first
    # key of an account and mode cannot both make one active.
    active_for: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    ed25519_public: Mapped[bytes] = mapped_column(LargeBinary)
    ml_dsa_65_public: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


def signing_key_aad(kid: str) -> bytes:
    """Binds a sealed private key pair to its key id."""
    return kid.encode()


register_sealed(SigningKey.sealed_private, key=(SigningKey.kid,), aad=signing_key_aad)


class LicenseValidationDaily(Base):
    """Validations of a license per UTC day and result code (`VALID`, `EXPIRED`, ...): the
    license's validation history. Counted in memory (validation writes nothing on its path)
    and added here in batches (quantumlock.core.counters)."""

    __tablename__ = "license_validation_daily"
    __table_args__ = (Index("ix_license_validation_daily_account_day", "account_id", "day"),)

    license_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("licenses.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-12-03" (UTC)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime]
