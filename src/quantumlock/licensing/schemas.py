"""Request and response bodies: the reference's shapes, plus the documented additions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from quantumlock.accounts.plans import Plan
from quantumlock.core.clock import as_utc
from quantumlock.core.jsonvalue import MAX_BYTES, MAX_DEPTH, json_value_problem
from quantumlock.entropy.types import SecurityLevel
from quantumlock.licensing.models import License, LicenseEvent, SigningKey
from quantumlock.licensing.signing import b64url

Feature = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ValidDays = Annotated[int, Field(ge=1, le=3650)]
# Stored statuses; an expired license keeps its status (expiry is `valid_until`).
LicenseStatus = Literal["active", "suspended", "revoked"]


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_value_problem(value)
    if problem:
        raise ValueError(f"metadata {problem}")
    return value


# Checked here, on the parsed body, so it holds whatever the body parser lets through.
Metadata = Annotated[dict[str, Any], AfterValidator(_storable)]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_customer_id: CustomerId
    features: list[Feature] = Field(default_factory=list, max_length=100)
    valid_days: ValidDays = 365
    metadata: Metadata = Field(
        default_factory=dict,
        description=(
            f"JSON object: at most {MAX_BYTES // 1024} KiB, nested at most {MAX_DEPTH} deep,"
            " finite numbers (64-bit integers), valid Unicode without NUL"
        ),
    )


class GenerateOut(BaseModel):
    license_key: str
    quantum_signature: str = Field(description="HMAC-SHA3-512, 128 hex characters")
    end_customer_id: str
    features: list[str]
    valid_until: datetime
    quantum_verified: bool
    qcos_fidelity: float | None
    security_level: SecurityLevel
    generated_at: datetime
    license_file: str = Field(
        description="Signed offline license (Ed25519 + ML-DSA-65); verify with the SDK."
    )

    @classmethod
    def from_row(cls, lic: License) -> GenerateOut:
        return cls(
            license_key=lic.license_key,
            quantum_signature=lic.quantum_signature,
            end_customer_id=lic.end_customer_id,
            features=list(lic.features),
            valid_until=as_utc(lic.valid_until),
            quantum_verified=lic.quantum_verified,
            qcos_fidelity=lic.qcos_fidelity,
            security_level=lic.security_level,
            generated_at=as_utc(lic.generated_at),
            license_file=lic.license_file,
        )


class LicenseOut(GenerateOut):
    status: LicenseStatus
    metadata: dict[str, Any]
    created_at: datetime
    signing_kid: str

    @classmethod
    def from_row(cls, lic: License) -> LicenseOut:
        return cls(
            **GenerateOut.from_row(lic).model_dump(),
            status=lic.status,
            metadata=dict(lic.meta),
            created_at=as_utc(lic.created_at),
            signing_kid=lic.signing_kid,
        )


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    end_customer_id: CustomerId
    features: list[Feature] | None = Field(
        default=None, max_length=100, description="The license must include all of these."
    )


class ValidateOut(BaseModel):
    valid: bool
    end_customer_id: str
    quantum_verified: bool
    features: list[str] | None
    expires_at: datetime | None
    message: str | None
    code: Literal[
        "VALID",
        "NOT_FOUND",
        "EXPIRED",
        "REVOKED",
        "SUSPENDED",
        "CUSTOMER_MISMATCH",
        "SIGNATURE_INVALID",
        "FEATURES_MISSING",
    ]
    # Only with FEATURES_MISSING: every other answer keeps the reference's shape exactly.
    missing_features: list[str] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Only with FEATURES_MISSING: the required features the license lacks",
    )


class LicenseListItem(BaseModel):
    license_key: str
    end_customer_id: str
    features: list[str]
    valid_until: datetime
    created_at: datetime
    status: LicenseStatus

    @classmethod
    def from_row(cls, lic: License) -> LicenseListItem:
        return cls(
            license_key=lic.license_key,
            end_customer_id=lic.end_customer_id,
            features=list(lic.features),
            valid_until=as_utc(lic.valid_until),
            created_at=as_utc(lic.created_at),
            status=lic.status,
        )


class LicenseList(BaseModel):
    total: int
    skip: int
    limit: int
    licenses: list[LicenseListItem]


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_days: ValidDays


class SigningKeyOut(BaseModel):
    kid: str
    alg: Literal["Ed25519+ML-DSA-65"]
    mode: Literal["live", "test"] = Field(
        description="The mode of the files it signs; verifiers refuse test unless asked"
    )
    status: Literal["active", "verify_only", "retired"]
    created_at: datetime
    public_keys: dict[str, str] = Field(
        description="Raw public keys, base64url: Ed25519, ML-DSA-65"
    )

    @classmethod
    def from_row(cls, key: SigningKey) -> SigningKeyOut:
        return cls(
            kid=key.kid,
            alg=key.alg,
            mode=key.mode,
            status=key.status,
            created_at=as_utc(key.created_at),
            public_keys={
                "Ed25519": b64url(key.ed25519_public),
                "ML-DSA-65": b64url(key.ml_dsa_65_public),
            },
        )


class SigningKeys(BaseModel):
    keys: list[SigningKeyOut]


class StatsOut(BaseModel):
    plan: Plan
    licenses_generated_month: int
    licenses_remaining_month: int | None
    max_licenses_month: int | None
    total_licenses_all_time: int
    active_licenses: int


LicenseAction = Literal["generate", "revoke", "suspend", "reinstate", "renew"]
# `license.<action>`, as GET /api/v2/audit names them.
LicenseEventType = Literal[
    "license.generate", "license.revoke", "license.suspend", "license.reinstate", "license.renew"
]


class LicenseEventOut(BaseModel):
    """One lifecycle change of a license, as the audit trail recorded it."""

    id: int
    type: LicenseEventType = Field(description="`license.<action>`, as in GET /api/v2/audit")
    action: LicenseAction
    key_id: str = Field(description="The API key that acted (`key_…`), or the CLI operator")
    at: datetime
    detail: dict[str, Any] = Field(
        description="What changed: `from`/`to` status or expiry; `valid_until` at generate"
    )

    @classmethod
    def from_row(cls, event: LicenseEvent) -> LicenseEventOut:
        return cls(
            id=event.id,
            type=f"license.{event.action}",
            action=event.action,
            key_id=event.key_id,
            at=as_utc(event.at),
            detail=dict(event.detail),
        )


class LicenseEventList(BaseModel):
    total: int
    skip: int
    limit: int
    events: list[LicenseEventOut] = Field(description="Newest first")
