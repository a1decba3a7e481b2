"""The operator's side of `quantumlock licenses`: `--account ID` on the data dir, no API.

Each function returns what the API would answer (same fields, same timestamps), so the two
forms of a command print alike. Signing-key rotation and retirement exist only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quantumlock.accounts.plans import limits_of_account
from quantumlock.bootstrap import make_sealer
from quantumlock.cli.common import account_service, console, open_session, settings
from quantumlock.core.actor import Actor
from quantumlock.core.clock import isoformat

if TYPE_CHECKING:
    from quantumlock.licensing.models import License
    from quantumlock.licensing.service import LicenseService
    from quantumlock.settings import Settings


def _service(session: Any, cfg: Settings | None = None) -> LicenseService:
    from quantumlock.licensing.service import LicenseService, SecretCache  # see cli.common

    return LicenseService(session, make_sealer(cfg or settings()), SecretCache())


def _mode(test: bool) -> str:
    return "test" if test else "live"


def resign_legacy_licenses(cfg: Settings) -> None:
    """For `init`: re-sign licenses stored before the status was signed (else refused)."""
    with open_session(cfg) as session:
        resigned, refused = _service(session, cfg).resign_legacy()
    if resigned or refused:
        console.print(
            f"Re-signed {resigned} license(s) with their status;"
            f" {refused} whose signature did not hold stay SIGNATURE_INVALID."
        )


def _license_json(lic: License) -> dict[str, Any]:
    from quantumlock.licensing.schemas import LicenseOut

    return LicenseOut.from_row(lic).model_dump(mode="json")


def generate(
    account: str,
    *,
    customer: str,
    features: list[str],
    valid_days: int,
    metadata: dict[str, Any],
    test: bool,
) -> dict[str, Any]:
    with open_session(settings()) as session:
        limits = limits_of_account(account_service(session).get(account))
        lic, _ = _service(session).generate(
            Actor.operator(account, test=test),
            limits,
            end_customer_id=customer,
            features=features,
            valid_days=valid_days,
            metadata=metadata,
        )
        return _license_json(lic)


def validate(
    account: str, license_key: str, customer: str, features: list[str], test: bool
) -> dict[str, Any]:
    with open_session(settings()) as session:
        account_service(session).get(account)
        result = _service(session).validate(account, _mode(test), license_key, customer, features)
        lic = result.license if result.valid else None
        return {
            "valid": result.valid,
            "code": result.code.value,
            "message": result.message,
            "end_customer_id": customer,
            "features": list(lic.features) if lic else None,
            "expires_at": isoformat(lic.valid_until) if lic else None,
        }


def list_page(
    account: str,
    *,
    customer: str | None,
    status: str | None,
    skip: int,
    limit: int,
    test: bool,
) -> dict[str, Any]:
    with open_session(settings()) as session:
        account_service(session).get(account)
        total, rows = _service(session).list(
            Actor.operator(account, test=test),
            skip=skip,
            limit=limit,
            end_customer_id=customer,
            status=status,
        )
        items = [
            {
                "license_key": r.license_key,
                "end_customer_id": r.end_customer_id,
                "features": list(r.features),
                "status": r.status,
                "valid_until": isoformat(r.valid_until),
                "created_at": isoformat(r.created_at),
            }
            for r in rows
        ]
    return {"total": total, "skip": skip, "limit": limit, "licenses": items}


def get(account: str, license_key: str, test: bool) -> dict[str, Any]:
    with open_session(settings()) as session:
        lic = _service(session).get(Actor.operator(account, test=test), license_key)
        return _license_json(lic)


def action(account: str, name: str, license_key: str, test: bool) -> dict[str, Any]:
    with open_session(settings()) as session:
        lic = getattr(_service(session), name)(Actor.operator(account, test=test), license_key)
        return _license_json(lic)


def renew(account: str, license_key: str, valid_days: int, test: bool) -> dict[str, Any]:
    with open_session(settings()) as session:
        lic = _service(session).renew(Actor.operator(account, test=test), license_key, valid_days)
        return _license_json(lic)


def signing_keys(account: str, test: bool) -> dict[str, Any]:
    from quantumlock.licensing.schemas import SigningKeyOut

    with open_session(settings()) as session:
        account_service(session).get(account)
        keys = _service(session).signing_keys(account, _mode(test))
        return {"keys": [SigningKeyOut.from_row(k).model_dump(mode="json") for k in keys]}


def rotate_signing_key(account: str, test: bool) -> tuple[str, str]:
    """The new key's id and mode."""
    with open_session(settings()) as session:
        account_service(session).get(account)
        key = _service(session).rotate_signing_key(account, _mode(test))
        return key.kid, key.mode


def retire_signing_key(account: str, kid: str, test: bool) -> None:
    with open_session(settings()) as session:
        _service(session).retire_signing_key(account, kid, _mode(test))
