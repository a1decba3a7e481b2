from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from quantumlock.accounts.plans import limits_of_account
from quantumlock.bootstrap import make_sealer
from quantumlock.cli.common import (
    account_service,
    console,
    fail,
    open_session,
    print_json,
    settings,
    split_csv,
)
from quantumlock.core.actor import Actor
from quantumlock.core.clock import isoformat

if TYPE_CHECKING:
    from quantumlock.licensing.models import License
    from quantumlock.licensing.service import LicenseService
    from quantumlock.settings import Settings

app = typer.Typer(help="Licenses, signing keys and offline verification.", no_args_is_help=True)

ACCOUNT = typer.Option(..., "--account", help="Account id (cust_…).")
TEST_MODE = typer.Option(False, "--test", help="Act in test mode (sandbox licenses).")
AS_JSON = typer.Option(False, "--json", help="Print JSON.")


def _service(session: Any, cfg: Settings | None = None) -> LicenseService:
    from quantumlock.licensing.service import LicenseService, SecretCache  # see cli.common

    return LicenseService(session, make_sealer(cfg or settings()), SecretCache())


def resign_legacy_licenses(cfg: Settings) -> None:
    """For `init`: re-sign licenses stored before the status was signed (else refused)."""
    with open_session(cfg) as session:
        resigned, refused = _service(session, cfg).resign_legacy()
    if resigned or refused:
        console.print(
            f"Re-signed {resigned} license(s) with their status;"
            f" {refused} whose signature did not hold stay SIGNATURE_INVALID."
        )


def _caller(account_id: str, test: bool) -> Actor:
    return Actor.operator(account_id, test=test)


def _license_json(lic: License) -> dict[str, Any]:
    from quantumlock.licensing.schemas import LicenseOut

    return LicenseOut.from_row(lic).model_dump(mode="json")


def _show(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    for field in (
        "license_key",
        "end_customer_id",
        "features",
        "status",
        "valid_until",
        "security_level",
    ):
        if field in data:
            console.print(f"{field:>16}: {data[field]}", highlight=False)


@app.command("generate")
def generate(
    account: str = ACCOUNT,
    customer: str = typer.Option(..., "--customer", help="End customer id."),
    features: str | None = typer.Option(None, "--features", help="Comma-separated features."),
    valid_days: int = typer.Option(365, "--valid-days", min=1, max=3650),
    metadata: str | None = typer.Option(None, "--metadata", help="A JSON object."),
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
) -> None:
    """Generate a license (counts against the account's monthly quota in live mode)."""
    meta: dict[str, Any] = {}
    if metadata:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError:
            fail("--metadata is not valid JSON.", 2)
        if not isinstance(meta, dict):
            fail("--metadata must be a JSON object.", 2)
    if not 1 <= len(customer) <= 256:
        fail("--customer: 1 to 256 characters.", 2)
    with open_session(settings()) as session:
        limits = limits_of_account(account_service(session).get(account))
        lic, _ = _service(session).generate(
            _caller(account, test),
            limits,
            end_customer_id=customer,
            features=split_csv(features) or [],
            valid_days=valid_days,
            metadata=meta,
        )
        data = _license_json(lic)
    _show(data, as_json)


@app.command("validate")
def validate(
    license_key: str = typer.Argument(..., help="A license key, e.g. QLOCK-7A3F-9B2C-4E1D"),
    account: str = ACCOUNT,
    customer: str = typer.Option(..., "--customer", help="End customer id."),
    features: str | None = typer.Option(None, "--features", help="Required features."),
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
) -> None:
    """Validate a license online (exit status 0 if valid, 1 if not)."""
    with open_session(settings()) as session:
        account_service(session).get(account)
        result = _service(session).validate(
            account, "test" if test else "live", license_key, customer, split_csv(features) or ()
        )
        lic = result.license if result.valid else None
        data = {
            "valid": result.valid,
            "code": result.code.value,
            "message": result.message,
            "end_customer_id": customer,
            "features": list(lic.features) if lic else None,
            "expires_at": isoformat(lic.valid_until) if lic else None,
        }
    if as_json:
        print_json(data)
    else:
        colour = "green" if result.valid else "red"
        console.print(f"[{colour}]{result.code.value}[/{colour}] {result.message or ''}")
    raise typer.Exit(0 if result.valid else 1)


@app.command("list")
def list_licenses(
    account: str = ACCOUNT,
    customer: str | None = typer.Option(None, "--customer"),
    status: str | None = typer.Option(None, "--status", help="active|suspended|revoked|expired"),
    skip: int = typer.Option(0, "--skip", min=0),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
) -> None:
    """List licenses, newest first."""
    if status not in (None, "active", "suspended", "revoked", "expired"):
        fail("--status must be active, suspended, revoked or expired.", 2)
    with open_session(settings()) as session:
        account_service(session).get(account)
        total, rows = _service(session).list(
            _caller(account, test), skip=skip, limit=limit, end_customer_id=customer, status=status
        )
        items: list[dict[str, Any]] = [
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
    if as_json:
        print_json({"total": total, "skip": skip, "limit": limit, "licenses": items})
        return
    table = Table(
        "license_key",
        "end_customer_id",
        "features",
        "status",
        "valid_until",
        title=f"{total} license(s)",
    )
    for item in items:
        table.add_row(
            item["license_key"],
            item["end_customer_id"],
            ",".join(item["features"]),
            item["status"],
            item["valid_until"],
        )
    console.print(table)


def _lifecycle(action: str, doc: str) -> None:
    def command(
        license_key: str = typer.Argument(..., help="A license key, e.g. QLOCK-7A3F-9B2C-4E1D"),
        account: str = ACCOUNT,
        test: bool = TEST_MODE,
        as_json: bool = AS_JSON,
    ) -> None:
        with open_session(settings()) as session:
            lic = getattr(_service(session), action)(_caller(account, test), license_key)
            data = _license_json(lic)
        _show(data, as_json)

    command.__doc__ = doc
    app.command(action)(command)


_lifecycle("revoke", "Revoke a license (final).")
_lifecycle("suspend", "Suspend a license (reinstate undoes it).")
_lifecycle("reinstate", "Reinstate a suspended license.")


@app.command("renew")
def renew(
    license_key: str = typer.Argument(..., help="A license key, e.g. QLOCK-7A3F-9B2C-4E1D"),
    account: str = ACCOUNT,
    valid_days: int = typer.Option(..., "--valid-days", min=1, max=3650),
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
) -> None:
    """Extend a license from the later of now and its expiry."""
    with open_session(settings()) as session:
        lic = _service(session).renew(_caller(account, test), license_key, valid_days)
        data = _license_json(lic)
    _show(data, as_json)


TEST_KEYS = typer.Option(False, "--test", help="The test-mode (sandbox) signing keys.")


def _mode(test: bool) -> str:
    return "test" if test else "live"


@app.command("signing-keys")
def signing_keys(account: str = ACCOUNT, test: bool = TEST_KEYS) -> None:
    """Print the public keys document (save it for `licenses verify --public-keys`)."""
    from quantumlock.licensing.schemas import SigningKeyOut

    with open_session(settings()) as session:
        account_service(session).get(account)
        keys = _service(session).signing_keys(account, _mode(test))
        print_json({"keys": [SigningKeyOut.from_row(k).model_dump(mode="json") for k in keys]})


@app.command("rotate-signing-key")
def rotate_signing_key(account: str = ACCOUNT, test: bool = TEST_KEYS) -> None:
    """Add a new active signing key; older keys keep verifying until retired."""
    with open_session(settings()) as session:
        account_service(session).get(account)
        key = _service(session).rotate_signing_key(account, _mode(test))
        console.print(f"New active {key.mode} signing key {key.kid}.")


@app.command("retire-signing-key")
def retire_signing_key(
    kid: str = typer.Argument(..., help="Signing key id (sk_…)."),
    account: str = ACCOUNT,
    test: bool = TEST_KEYS,
) -> None:
    """Stop publishing a signing key: files it signed no longer verify offline."""
    with open_session(settings()) as session:
        _service(session).retire_signing_key(account, kid, _mode(test))
        console.print(f"Retired {kid}.")


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="License file."),
    public_keys: Path = typer.Option(
        ...,
        "--public-keys",
        exists=True,
        dir_okay=False,
        help="The /api/v1/licenses/signing-keys document.",
    ),
    customer: str | None = typer.Option(None, "--customer", help="Expected end customer."),
    test: bool = typer.Option(
        False, "--test", help="Accept test-mode (sandbox) files too (refused by default)."
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Verify a license file offline, with no server (exit status 0 if valid, 1 if not)."""
    try:
        keys = json.loads(public_keys.read_text())
    except json.JSONDecodeError:
        fail(f"{public_keys} is not JSON.", 2)
    from qcos.licensing import verify_license_file  # the SDK loads with the commands using it

    result = verify_license_file(file.read_text(), keys, end_customer_id=customer, allow_test=test)
    if as_json:
        print_json(
            {
                "valid": result.valid,
                "code": result.code,
                "reason": result.reason,
                "message": result.message,
                "missing_features": result.missing_features,
                "license_key": result.license_key,
                "mode": result.mode,
                "end_customer_id": result.end_customer_id,
                "features": result.features,
                "valid_until": isoformat(result.valid_until),
                "kid": result.kid,
            }
        )
    else:
        colour = "green" if result.valid else "red"
        reason = f" ({result.reason})" if result.reason else ""  # which check failed
        rest = " ".join(filter(None, (result.license_key, result.message)))
        console.print(f"[{colour}]{result.code}[/{colour}]{reason} {rest}", highlight=False)
    raise typer.Exit(0 if result.valid else 1)
