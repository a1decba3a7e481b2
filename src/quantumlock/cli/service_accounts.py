"""`quantumlock service-accounts ...`: machine identities for client_credentials, through
the API (scope admin), like the vendor `keys` commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import typer

from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.client_output import (
    GRACE,
    MODE,
    ModeChoice,
    created,
    grace_seconds,
    mode_of,
    show,
    table,
)
from quantumlock.cli.common import USAGE, console, fail, print_json, split_csv
from quantumlock.cli.output import AS_JSON, WIDE

if TYPE_CHECKING:
    from qcos import Scope as SdkScope

app = typer.Typer(
    help="Service accounts of your account (client_credentials), through the API (scope "
    "admin). The client secret is shown once, at create and rotate-secret.",
    no_args_is_help=True,
)

FIELDS = ("client_id", "name", "mode", "status", "scopes", "secret_prefix", "created_at")
CLIENT_ID = typer.Argument(..., help="Service account id (service_…).")


def _scopes(value: str | None) -> list[SdkScope] | None:
    scopes = split_csv(value)
    if scopes is not None and not scopes:
        fail("--scopes: give at least one scope", USAGE, code="USAGE_ERROR")
    # The server names an unknown scope (400).
    return cast("list[SdkScope] | None", scopes)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A name (1-100 characters)."),
    scopes: str = typer.Option(..., "--scopes", help="Comma-separated scopes, e.g. a,b."),
    mode: ModeChoice | None = MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create a service account: prints its client_id and client_secret (shown once)."""
    wanted = _scopes(scopes) or []
    with api_client(api_key, base_url, profile) as api:
        made = api.call(
            lambda: api.client.service_accounts.create(
                name,
                scopes=wanted,
                mode=mode_of(mode),
            ),
            "create a service account",
        )
    created(made, FIELDS, json_out=as_json)


@app.command("list")
def list_all(
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """List service accounts, newest first (never their secrets)."""
    with api_client(api_key, base_url, profile) as api:
        rows = api.call(lambda: list(api.client.service_accounts.iter()), "list service accounts")
    table(rows, FIELDS[:-1], json_out=as_json, wide=wide)


@app.command("get")
def get(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """One service account (never its secret)."""
    with api_client(api_key, base_url, profile) as api:
        row = api.call(lambda: api.client.service_accounts.get(client_id), f"get {client_id}")
    show(row, (*FIELDS, "updated_at", "disabled_at"), json_out=as_json)


@app.command("update")
def update(
    client_id: str = CLIENT_ID,
    name: str | None = typer.Option(None, "--name", help="A new name."),
    scopes: str | None = typer.Option(None, "--scopes", help="Its new scopes, comma-separated."),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Rename a service account or set its scopes; its tokens narrow at once."""
    if name is None and scopes is None:
        fail("give --name or --scopes", USAGE, code="USAGE_ERROR")
    wanted = _scopes(scopes)
    with api_client(api_key, base_url, profile) as api:
        row = api.call(
            lambda: api.client.service_accounts.update(client_id, name=name, scopes=wanted),
            f"update {client_id}",
        )
    show(row, FIELDS, json_out=as_json)


@app.command("rotate-secret")
def rotate_secret(
    client_id: str = CLIENT_ID,
    grace: str = GRACE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """A new client secret (shown once); the old ones keep working for --grace."""
    seconds = grace_seconds(grace)
    with api_client(api_key, base_url, profile) as api:
        made = api.call(
            lambda: api.client.service_accounts.rotate_secret(client_id, grace_period=seconds),
            f"rotate the secret of {client_id}",
        )
    created(made, (*FIELDS, "previous_secrets_expire_at"), json_out=as_json)


def _status(client_id: str, action: str, as_json: bool, *creds: str | None) -> None:
    with api_client(*creds) as api:
        accounts = api.client.service_accounts
        call = accounts.disable if action == "disable" else accounts.enable
        row = api.call(lambda: call(client_id), f"{action} {client_id}")
    show(row, FIELDS, json_out=as_json)


@app.command("disable")
def disable(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Disable a service account: no new tokens, its tokens refused within a second."""
    _status(client_id, "disable", as_json, api_key, base_url, profile)


@app.command("enable")
def enable(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Enable a disabled service account."""
    _status(client_id, "enable", as_json, api_key, base_url, profile)


@app.command("delete")
def delete(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Delete a service account and its secrets, for good."""
    with api_client(api_key, base_url, profile) as api:
        api.call(lambda: api.client.service_accounts.delete(client_id), f"delete {client_id}")
    if as_json:
        print_json({"client_id": client_id, "deleted": True})
    else:
        console.print(f"Deleted {client_id}.", highlight=False)
