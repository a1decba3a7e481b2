"""Typed results of the /api/v1 licensing and customer endpoints (bare bodies, no envelope)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qcos._models import _required_datetime, parse_datetime


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class GeneratedLicense:
    """A license as `licenses.generate` returns it.

    `license_file` is the signed offline license (`qlf1.…`): hand it to the end customer and
    check it with `qcos.licensing.verify_license_file`. It and the signature are long, so they
    are left out of the repr.
    """

    license_key: str
    end_customer_id: str
    features: list[str]
    valid_until: datetime
    quantum_verified: bool
    qcos_fidelity: float | None
    security_level: str
    generated_at: datetime
    quantum_signature: str = field(repr=False)
    license_file: str = field(repr=False)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        fidelity = data.get("qcos_fidelity")
        return {
            "license_key": data["license_key"],
            "end_customer_id": data["end_customer_id"],
            "features": list(data["features"]),
            "valid_until": _required_datetime(data["valid_until"]),
            "quantum_verified": bool(data["quantum_verified"]),
            "qcos_fidelity": None if fidelity is None else float(fidelity),
            "security_level": data["security_level"],
            "generated_at": _required_datetime(data["generated_at"]),
            "quantum_signature": data["quantum_signature"],
            "license_file": data["license_file"],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratedLicense:
        return cls(**cls._fields(data))


@dataclass(frozen=True, slots=True)
class License(GeneratedLicense):
    """A stored license (`get`, `revoke`, `suspend`, `reinstate`, `renew`).

    `status` is "active", "suspended" or "revoked"; expiry is read from `valid_until`.
    """

    status: str
    metadata: dict[str, Any]
    created_at: datetime
    signing_kid: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> License:
        return cls(
            **cls._fields(data),
            status=data["status"],
            metadata=dict(data.get("metadata") or {}),
            created_at=_required_datetime(data["created_at"]),
            signing_kid=data["signing_kid"],
        )


@dataclass(frozen=True, slots=True)
class LicenseValidation:
    """The answer of online validation. An invalid license is a result, not an exception.

    `code` is one of VALID, NOT_FOUND, EXPIRED, REVOKED, SUSPENDED, CUSTOMER_MISMATCH,
    SIGNATURE_INVALID, FEATURES_MISSING; `features` and `expires_at` are None unless valid.
    `missing_features`: with FEATURES_MISSING, the required features the license lacks.
    """

    valid: bool
    code: str
    end_customer_id: str
    quantum_verified: bool
    features: list[str] | None
    expires_at: datetime | None
    message: str | None
    missing_features: list[str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseValidation:
        features = data.get("features")
        missing = data.get("missing_features")
        return cls(
            valid=bool(data["valid"]),
            code=data["code"],
            end_customer_id=data["end_customer_id"],
            quantum_verified=bool(data["quantum_verified"]),
            features=None if features is None else list(features),
            expires_at=parse_datetime(data.get("expires_at")),
            message=data.get("message"),
            missing_features=None if missing is None else list(missing),
        )


@dataclass(frozen=True, slots=True)
class LicenseSummary:
    """One row of `licenses.list` (no signature or file: `licenses.get` has those)."""

    license_key: str
    end_customer_id: str
    features: list[str]
    valid_until: datetime
    created_at: datetime
    status: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseSummary:
        return cls(
            license_key=data["license_key"],
            end_customer_id=data["end_customer_id"],
            features=list(data["features"]),
            valid_until=_required_datetime(data["valid_until"]),
            created_at=_required_datetime(data["created_at"]),
            status=data["status"],
        )


@dataclass(frozen=True, slots=True)
class LicensePage:
    """One page of `licenses.list`, newest first; `total` counts every match."""

    total: int
    skip: int
    limit: int
    licenses: list[LicenseSummary]

    @property
    def next_skip(self) -> int | None:
        """The `skip` of the following page, or None when this one is the last."""
        following = self.skip + len(self.licenses)
        return following if self.licenses and following < self.total else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicensePage:
        return cls(
            total=int(data["total"]),
            skip=int(data["skip"]),
            limit=int(data["limit"]),
            licenses=[LicenseSummary.from_dict(row) for row in data["licenses"]],
        )


@dataclass(frozen=True, slots=True)
class Customer:
    """The calling vendor's own account (`customers.me`)."""

    id: str
    name: str
    email: str
    plan: str
    created_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Customer:
        return cls(
            id=data["id"],
            name=data["name"],
            email=data["email"],
            plan=data["plan"],
            created_at=_required_datetime(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class CustomerStats:
    """Usage this calendar month (UTC) and overall. None limits mean unlimited."""

    plan: str
    licenses_generated_month: int
    licenses_remaining_month: int | None
    max_licenses_month: int | None
    total_licenses_all_time: int
    active_licenses: int

    @property
    def unlimited(self) -> bool:
        return self.max_licenses_month is None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerStats:
        return cls(
            plan=data["plan"],
            licenses_generated_month=int(data["licenses_generated_month"]),
            licenses_remaining_month=_optional_int(data.get("licenses_remaining_month")),
            max_licenses_month=_optional_int(data.get("max_licenses_month")),
            total_licenses_all_time=int(data["total_licenses_all_time"]),
            active_licenses=int(data["active_licenses"]),
        )
