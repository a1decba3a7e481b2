"""`quantumlock licenses signing-keys | rotate-signing-key | retire-signing-key | verify`:
the public keys of offline license files, and the offline check itself.

`signing-keys` goes through the API (or, with --account, the operator's data dir); rotating
and retiring signing keys is operator-only; `verify` needs no server at all when given the
public keys document.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from quantumlock.cli import licenses_operator as operator
from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, Api, api_client
from quantumlock.cli.common import USAGE, console, err_console, fail, print_json, split_csv
from quantumlock.cli.output import AS_JSON, ts

ACCOUNT = typer.Option(
    None,
    "--account",
    show_default=False,
    help="Operator: act on this account (cust_…) in the data dir, not through the API.",
)


def _api_mode(test: bool) -> None:
    if test:
        fail(
            "--test needs --account (operator); through the API a test key "
            "(qcos_test_…) acts in test mode",
            USAGE,
            code="USAGE_ERROR",
        )


def _fetch_signing_keys(api: Api) -> dict[str, Any]:
    return api.call(api.client.licenses.signing_keys, "fetch the signing keys")


def signing_keys(
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help="Write the document here (default stdout)."
    ),
    account: str | None = ACCOUNT,
    test: bool = typer.Option(False, "--test", help="Operator: the test-mode signing keys."),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Print the public keys document that `licenses verify --public-keys` takes (JSON)."""
    if account is not None:
        document = operator.signing_keys(account, test)
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            document = _fetch_signing_keys(api)
    if out is None:
        print_json(document)
        return
    try:
        out.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}", USAGE, code="FILE_ERROR")
    err_console.print(f"Wrote {len(document.get('keys', []))} key(s) to {out}.", highlight=False)


OPERATOR_ACCOUNT = typer.Option(..., "--account", help="Account id (cust_…).")
TEST_KEYS = typer.Option(False, "--test", help="The test-mode (sandbox) signing keys.")


def rotate_signing_key(
    account: str = OPERATOR_ACCOUNT, test: bool = TEST_KEYS, as_json: bool = AS_JSON
) -> None:
    """Operator: add a new active signing key; older keys keep verifying until retired."""
    kid, mode = operator.rotate_signing_key(account, test)
    if as_json:
        print_json({"kid": kid, "mode": mode, "status": "active"})
    else:
        console.print(f"New active {mode} signing key {kid}.", highlight=False)


def retire_signing_key(
    kid: str = typer.Argument(..., help="Signing key id (sk_…)."),
    account: str = OPERATOR_ACCOUNT,
    test: bool = TEST_KEYS,
    as_json: bool = AS_JSON,
) -> None:
    """Operator: stop publishing a signing key; files it signed no longer verify offline."""
    operator.retire_signing_key(account, kid, test)
    if as_json:
        print_json({"kid": kid, "status": "retired"})
    else:
        console.print(f"Retired {kid}.", highlight=False)


def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="License file (.qlf)."),
    public_keys: Path | None = typer.Option(
        None,
        "--public-keys",
        exists=True,
        dir_okay=False,
        help="The `licenses signing-keys` document: with it the check is fully offline. "
        "Without it, the document is fetched through the API first.",
    ),
    customer: str | None = typer.Option(None, "--customer", help="Expected end customer."),
    features: str | None = typer.Option(
        None, "--features", help="Comma-separated features the license must include."
    ),
    test: bool = typer.Option(
        False, "--test", help="Accept test-mode (sandbox) files too (refused by default)."
    ),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Verify a license file offline (exit status 0 if valid, 1 if not)."""
    if public_keys is None:
        with api_client(api_key, base_url, profile) as api:
            keys: Any = _fetch_signing_keys(api)
        err_console.print(f"Signing keys fetched from {api.credentials.base_url}.")
    else:
        try:
            keys = json.loads(public_keys.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            fail(f"{public_keys} is not JSON.", USAGE, code="USAGE_ERROR")
    from qcos.licensing import verify_license_file  # the SDK loads with the commands using it

    try:
        text = file.read_text()
    except (UnicodeDecodeError, OSError):
        fail(f"{file} is not a license file (qlf1.…).", USAGE, code="USAGE_ERROR")
    result = verify_license_file(
        text,
        keys,
        end_customer_id=customer,
        features=split_csv(features) or (),
        allow_test=test,
    )
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
                "valid_until": ts(result.valid_until),
                "kid": result.kid,
            }
        )
    else:
        colour = "green" if result.valid else "red"
        reason = f" ({result.reason})" if result.reason else ""  # which check failed
        rest = " ".join(filter(None, (result.license_key, result.message)))
        console.print(f"[{colour}]{result.code}[/{colour}]{reason} {rest}", highlight=False)
    sys.stdout.flush()
    raise typer.Exit(0 if result.valid else 1)
