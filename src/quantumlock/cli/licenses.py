"""`quantumlock licenses`: issue, check and manage licenses through the API (the SDK).

With `--account ID` a command acts as the operator on that account in the data dir instead
(`quantumlock.cli.licenses_operator`); `--test` then picks the sandbox. Through the API the
key decides the mode (a qcos_test_ key acts in test mode). `verify` needs neither: it checks
a license file offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from quantumlock.cli import licenses_keys
from quantumlock.cli import licenses_operator as operator
from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, console, err_console, fail, print_json, split_csv
from quantumlock.cli.output import AS_JSON, WIDE, print_table, ts

if TYPE_CHECKING:
    from qcos import GeneratedLicense, License, LicenseStatus

app = typer.Typer(
    help="Licenses through the API (your key's account and mode). Operators: --account ID "
    "acts on that account in the data dir instead; signing-key rotation is operator-only.",
    no_args_is_help=True,
)

ACCOUNT = licenses_keys.ACCOUNT
TEST_MODE = typer.Option(
    False,
    "--test",
    help="Operator (--account): the test-mode sandbox. Through the API, "
    "use a test key (qcos_test_…) instead.",
)
LICENSE_KEY = typer.Argument(..., help="A license key, e.g. QLOCK-7A3F-9B2C-4E1D")
resign_legacy_licenses = operator.resign_legacy_licenses  # for `init`


_api_mode = licenses_keys._api_mode


def _generated_json(lic: GeneratedLicense) -> dict[str, Any]:
    """The API's generate answer, field for field (timestamps as it wrote them)."""
    return {
        "license_key": lic.license_key,
        "quantum_signature": lic.quantum_signature,
        "end_customer_id": lic.end_customer_id,
        "features": list(lic.features),
        "valid_until": ts(lic.valid_until),
        "quantum_verified": lic.quantum_verified,
        "qcos_fidelity": lic.qcos_fidelity,
        "security_level": lic.security_level,
        "generated_at": ts(lic.generated_at),
        "license_file": lic.license_file,
    }


def _license_json(lic: License) -> dict[str, Any]:
    return {
        **_generated_json(lic),
        "status": lic.status,
        "metadata": dict(lic.metadata),
        "created_at": ts(lic.created_at),
        "signing_kid": lic.signing_kid,
    }


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
            value = data[field]
            shown = ",".join(value) if isinstance(value, list) else value
            console.print(f"{field:>16}: {shown}", highlight=False)


def _metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        fail("--metadata is not valid JSON.", USAGE, code="USAGE_ERROR")
    if not isinstance(meta, dict):
        fail("--metadata must be a JSON object.", USAGE, code="USAGE_ERROR")
    return meta


@app.command("generate")
def generate(
    customer: str = typer.Option(..., "--customer", help="End customer id."),
    features: str | None = typer.Option(None, "--features", help="Comma-separated features."),
    valid_days: int = typer.Option(365, "--valid-days", min=1, max=3650),
    metadata: str | None = typer.Option(None, "--metadata", help="A JSON object."),
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help="Also write the offline license file (.qlf) here."
    ),
    account: str | None = ACCOUNT,
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Generate a license (live mode counts against the monthly quota)."""
    meta = _metadata(metadata)
    if not 1 <= len(customer) <= 256:
        fail("--customer: 1 to 256 characters.", USAGE, code="USAGE_ERROR")
    wanted = split_csv(features) or []
    if account is not None:
        data = operator.generate(
            account,
            customer=customer,
            features=wanted,
            valid_days=valid_days,
            metadata=meta,
            test=test,
        )
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            made = api.call(
                lambda: api.client.licenses.generate(
                    customer, features=wanted, valid_days=valid_days, metadata=meta or None
                ),
                "generate a license",
            )
        data = _generated_json(made)
    if out is not None:
        _write_license_file(out, data["license_file"], data["license_key"])
    _show(data, as_json)


@app.command("validate")
def validate(
    license_key: str = LICENSE_KEY,
    customer: str = typer.Option(..., "--customer", help="End customer id."),
    features: str | None = typer.Option(None, "--features", help="Required features."),
    account: str | None = ACCOUNT,
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Validate a license online (exit status 0 if valid, 1 if not)."""
    wanted = split_csv(features) or []
    if account is not None:
        data = operator.validate(account, license_key, customer, wanted, test)
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            result = api.call(
                lambda: api.client.licenses.validate(license_key, customer, features=wanted),
                "validate a license",
            )
        data = {
            "valid": result.valid,
            "code": result.code,
            "message": result.message,
            "end_customer_id": result.end_customer_id,
            "quantum_verified": result.quantum_verified,
            "features": result.features,
            "expires_at": ts(result.expires_at),
        }
    if as_json:
        print_json(data)
    else:
        colour = "green" if data["valid"] else "red"
        console.print(f"[{colour}]{data['code']}[/{colour}] {data['message'] or ''}")
    raise typer.Exit(0 if data["valid"] else 1)


@app.command("list")
def list_licenses(
    customer: str | None = typer.Option(None, "--customer"),
    status: str | None = typer.Option(None, "--status", help="active|suspended|revoked|expired"),
    skip: int = typer.Option(0, "--skip", min=0),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    account: str | None = ACCOUNT,
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """List licenses, newest first (one page: --skip, --limit)."""
    if status not in (None, "active", "suspended", "revoked", "expired"):
        fail("--status must be active, suspended, revoked or expired.", USAGE, code="USAGE_ERROR")
    if account is not None:
        page = operator.list_page(
            account, customer=customer, status=status, skip=skip, limit=limit, test=test
        )
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            found = api.call(
                lambda: api.client.licenses.list(
                    skip=skip,
                    limit=limit,
                    end_customer_id=customer,
                    status=cast("LicenseStatus | None", status),  # the server names a bad one
                ),
                "list licenses",
            )
        page = {
            "total": found.total,
            "skip": found.skip,
            "limit": found.limit,
            "licenses": [
                {
                    "license_key": r.license_key,
                    "end_customer_id": r.end_customer_id,
                    "features": list(r.features),
                    "status": r.status,
                    "valid_until": ts(r.valid_until),
                    "created_at": ts(r.created_at),
                }
                for r in found.licenses
            ],
        }
    if as_json:
        print_json(page)
        return
    columns = ("license_key", "end_customer_id", "features", "status", "valid_until")
    print_table(
        columns,
        ([item[c] for c in columns] for item in page["licenses"]),
        wide=wide,
        ids=("license_key", "end_customer_id"),
        title=f"{page['total']} license(s)",
    )


def _write_license_file(out: Path, license_file: str, license_key: str) -> None:
    try:
        out.write_text(license_file + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}", USAGE, code="FILE_ERROR")
    err_console.print(f"Wrote the license file of {license_key} to {out}.", highlight=False)


@app.command("get")
def get(
    license_key: str = LICENSE_KEY,
    out: Path | None = typer.Option(
        None,
        "--out",
        dir_okay=False,
        help="Write the offline license file (.qlf) here: what the end customer's "
        "application checks with `licenses verify` or qcos.licensing.verify_license_file.",
    ),
    account: str | None = ACCOUNT,
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Show a license; with --out, write its signed offline license file."""
    if account is not None:
        data = operator.get(account, license_key, test)
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            lic = api.call(lambda: api.client.licenses.get(license_key), "get a license")
        data = _license_json(lic)
    if out is not None:
        _write_license_file(out, data["license_file"], data["license_key"])
    _show(data, as_json)


def _lifecycle(action: str, doc: str) -> None:
    def command(
        license_key: str = LICENSE_KEY,
        account: str | None = ACCOUNT,
        test: bool = TEST_MODE,
        as_json: bool = AS_JSON,
        api_key: str | None = API_KEY,
        base_url: str | None = BASE_URL,
        profile: str | None = PROFILE,
    ) -> None:
        if account is not None:
            data = operator.action(account, action, license_key, test)
        else:
            _api_mode(test)
            with api_client(api_key, base_url, profile) as api:
                method = getattr(api.client.licenses, action)
                data = _license_json(api.call(lambda: method(license_key), f"{action} a license"))
        _show(data, as_json)

    command.__doc__ = doc
    app.command(action)(command)


_lifecycle("revoke", "Revoke a license (final).")
_lifecycle("suspend", "Suspend a license (reinstate undoes it).")
_lifecycle("reinstate", "Reinstate a suspended license.")


@app.command("renew")
def renew(
    license_key: str = LICENSE_KEY,
    valid_days: int = typer.Option(..., "--valid-days", min=1, max=3650),
    account: str | None = ACCOUNT,
    test: bool = TEST_MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Extend a license from the later of now and its expiry."""
    if account is not None:
        data = operator.renew(account, license_key, valid_days, test)
    else:
        _api_mode(test)
        with api_client(api_key, base_url, profile) as api:
            lic = api.call(
                lambda: api.client.licenses.renew(license_key, valid_days=valid_days),
                "renew a license",
            )
        data = _license_json(lic)
    _show(data, as_json)


app.command("signing-keys")(licenses_keys.signing_keys)
app.command("rotate-signing-key")(licenses_keys.rotate_signing_key)
app.command("retire-signing-key")(licenses_keys.retire_signing_key)
app.command("verify")(licenses_keys.verify)
