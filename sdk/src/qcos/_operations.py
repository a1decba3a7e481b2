"""What each SDK method sends and how it reads the answer: shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from qcos._licensing_models import (
    Customer,
    CustomerStats,
    GeneratedLicense,
    License,
    LicensePage,
    LicenseSummary,
    LicenseValidation,
)
from qcos._models import ApiKey, CreatedKey, KeyPage, Me

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    unwrap: bool = True  # /api/v2 bodies are {"data": ...}; /api/v1 bodies are bare
    # A POST that changes nothing on the server (decrypt, verify…) may say so; None = by method.
    retry_safe: bool | None = None
    # The server takes an Idempotency-Key here (a creating or changing POST): every call sends
    # one, and its retries send the same one, so a retry never acts twice.
    keyed: bool = False

    @property
    def idempotent(self) -> bool:
        if self.retry_safe is not None:
            return self.retry_safe
        return self.method in {"GET", "HEAD", "DELETE", "PUT"}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _no_content(_: Any) -> None:
    return None


def _without_none(**values: Any) -> dict[str, Any]:
    """The values the caller gave: a parameter left out (None) is never sent, so the server's
    default, or the state the call continues, decides it, not a default of the SDK's."""
    return {k: v for k, v in values.items() if v is not None}


def _json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TypeError("expected a JSON object")
    return body


def me() -> Operation[Me]:
    return Operation("GET", "/api/v2/me", Me.from_dict)


def list_keys(limit: int | None = None, cursor: str | None = None) -> Operation[KeyPage]:
    params = _without_none(limit=limit, cursor=cursor)
    return Operation("GET", "/api/v2/keys", KeyPage.from_dict, params=params)


def get_key(key_id: str) -> Operation[ApiKey]:
    return Operation("GET", f"/api/v2/keys/{_segment(key_id)}", ApiKey.from_dict)


def _list_or_none(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def update_key(
    key_id: str,
    name: str | None,
    scopes: Sequence[str] | None,
    metadata: dict[str, Any] | None,
) -> Operation[ApiKey]:
    body = _without_none(name=name, scopes=_list_or_none(scopes), metadata=metadata)
    # Sets fields to given values: sending it twice changes nothing more, so it is retried.
    return Operation(
        "PATCH", f"/api/v2/keys/{_segment(key_id)}", ApiKey.from_dict, json=body, retry_safe=True
    )


def create_key(
    name: str,
    scopes: Sequence[str] | None,
    expires_in: str | None,
    key_type: str | None,
    metadata: dict[str, Any] | None = None,
) -> Operation[CreatedKey]:
    body = _without_none(
        name=name,
        scopes=_list_or_none(scopes),
        expires_in=expires_in,
        type=key_type,
        metadata=metadata,
    )
    return Operation("POST", "/api/v2/keys", CreatedKey.from_dict, json=body, keyed=True)


def revoke_key(key_id: str) -> Operation[None]:
    return Operation("DELETE", f"/api/v2/keys/{_segment(key_id)}", _no_content)


def rotate_key(key_id: str, grace_period: str | None) -> Operation[CreatedKey]:
    return Operation(
        "POST",
        f"/api/v2/keys/{_segment(key_id)}/rotate",
        CreatedKey.from_dict,
        json=_without_none(grace_period=grace_period),
        keyed=True,
    )


# -- /api/v1/licenses: bare bodies ----------------------------------------------------------

_LICENSES = "/api/v1/licenses"
LICENSE_ACTIONS = ("revoke", "suspend", "reinstate")


def _license_path(license_key: str, action: str | None = None) -> str:
    path = f"{_LICENSES}/{_segment(license_key)}"
    return path if action is None else f"{path}/{action}"


def generate_license(
    end_customer_id: str,
    features: list[str] | None,
    valid_days: int | None,
    metadata: dict[str, Any] | None,
) -> Operation[GeneratedLicense]:
    body = _without_none(
        end_customer_id=end_customer_id,
        features=features,
        valid_days=valid_days,
        metadata=metadata,
    )
    return Operation(
        "POST",
        f"{_LICENSES}/generate",
        GeneratedLicense.from_dict,
        json=body,
        unwrap=False,
        keyed=True,
    )


def validate_license(
    license_key: str, end_customer_id: str, features: list[str] | None
) -> Operation[LicenseValidation]:
    body = _without_none(
        license_key=license_key, end_customer_id=end_customer_id, features=features
    )
    return Operation(
        "POST", f"{_LICENSES}/validate", LicenseValidation.from_dict, json=body, unwrap=False
    )


def list_licenses(
    skip: int | None, limit: int | None, end_customer_id: str | None, status: str | None
) -> Operation[LicensePage]:
    params = _without_none(skip=skip, limit=limit, end_customer_id=end_customer_id, status=status)
    return Operation("GET", _LICENSES, LicensePage.from_dict, params=params, unwrap=False)


def unseen(page: LicensePage, seen: set[str]) -> list[LicenseSummary]:
    """The page's rows not yielded before, for `licenses.iter`.

    Offset paging over a newest-first list repeats rows when licenses are created while it
    runs; this drops the repeats (and records the new keys in `seen`).
    """
    rows = [row for row in page.licenses if row.license_key not in seen]
    seen.update(row.license_key for row in rows)
    return rows


def get_license(license_key: str) -> Operation[License]:
    return Operation("GET", _license_path(license_key), License.from_dict, unwrap=False)


def license_action(license_key: str, action: str) -> Operation[License]:
    if action not in LICENSE_ACTIONS:
        raise ValueError(f"unknown license action {action!r}")
    return Operation(
        "POST", _license_path(license_key, action), License.from_dict, unwrap=False, keyed=True
    )


def renew_license(license_key: str, valid_days: int) -> Operation[License]:
    return Operation(
        "POST",
        _license_path(license_key, "renew"),
        License.from_dict,
        json={"valid_days": valid_days},
        unwrap=False,
        keyed=True,
    )


def signing_keys() -> Operation[dict[str, Any]]:
    return Operation("GET", f"{_LICENSES}/signing-keys", _json_object, unwrap=False)


# -- /api/v1/customers ------------------------------------------------------------------------


def customer_me() -> Operation[Customer]:
    return Operation("GET", "/api/v1/customers/me", Customer.from_dict, unwrap=False)


def customer_stats() -> Operation[CustomerStats]:
    return Operation("GET", "/api/v1/customers/stats", CustomerStats.from_dict, unwrap=False)
