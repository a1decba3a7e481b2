"""`quantumlock oauth-clients ...`: relying parties of the account's OAuth 2.0 / OIDC
provider, through the API (scope admin), like the vendor `keys` commands."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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
    from qcos import AuthMethod, GrantType, IdTokenAlg

app = typer.Typer(
    help="OAuth clients of your account, through the API (scope admin). A confidential "
    "client's secret is shown once, at create and rotate-secret.",
    no_args_is_help=True,
)

FIELDS = (
    "client_id",
    "name",
    "kind",
    "mode",
    "status",
    "redirect_uris",
    "grant_types",
    "scopes",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "secret_prefix",
    "created_at",
)
CLIENT_ID = typer.Argument(..., help="OAuth client id (client_…).")


class GrantChoice(StrEnum):
    authorization_code = "authorization_code"
    refresh_token = "refresh_token"  # noqa: S105 - a grant type's name
    client_credentials = "client_credentials"


class MethodChoice(StrEnum):
    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method's name
    client_secret_post = "client_secret_post"  # noqa: S105 - a method's name
    private_key_jwt = "private_key_jwt"
    none = "none"


class AlgChoice(StrEnum):
    ES256 = "ES256"
    RS256 = "RS256"


REDIRECT_URI = typer.Option(
    None,
    "--redirect-uri",
    help="A redirect URI (repeat for more): https, or http on localhost/127.0.0.1 only.",
)
GRANT_TYPE = typer.Option(
    None,
    "--grant-type",
    help="An allowed grant type (repeat for more). Default: authorization_code.",
)
SCOPES = typer.Option(
    None,
    "--scopes",
    help="Comma-separated: API scopes plus openid, profile, email, offline_access.",
)
ID_TOKEN_ALG = typer.Option(
    None,
    "--id-token-alg",
    help="What its ID tokens are signed with: ES256 (default) or RS256 (for RPs that "
    "verify only RS256).",
)
JWKS_FILE = typer.Option(
    None,
    "--jwks-file",
    help='private_key_jwt: a JSON file with the client\'s public keys ({"keys": [...]}).',
    dir_okay=False,
)


def _jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"--jwks-file {path}: {exc}", USAGE, code="USAGE_ERROR")
    if not isinstance(data, dict):
        fail(f"--jwks-file {path}: not a JSON object", USAGE, code="USAGE_ERROR")
    return data


def _grants(values: list[GrantChoice] | None) -> list[GrantType] | None:
    return cast("list[GrantType]", [v.value for v in values]) if values else None


def _alg(value: AlgChoice | None) -> IdTokenAlg | None:
    return value.value if value else None


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A name (1-100 characters)."),
    redirect_uri: list[str] | None = REDIRECT_URI,
    public: bool = typer.Option(
        False, "--public", help="A public client (PKCE, no secret; auth method none)."
    ),
    grant_type: list[GrantChoice] | None = GRANT_TYPE,
    scopes: str | None = SCOPES,
    auth_method: MethodChoice | None = typer.Option(
        None,
        "--auth-method",
        help="Token endpoint authentication (default client_secret_basic; none if --public).",
    ),
    jwks_file: Path | None = JWKS_FILE,
    id_token_alg: AlgChoice | None = ID_TOKEN_ALG,
    mode: ModeChoice | None = MODE,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Register an OAuth client; a confidential client's client_secret is shown once."""
    jwks = _jwks(jwks_file)
    method: AuthMethod | None = auth_method.value if auth_method else None
    with api_client(api_key, base_url, profile) as api:
        made = api.call(
            lambda: api.client.oauth_clients.create(
                name,
                redirect_uris=redirect_uri or None,
                public=public,
                grant_types=_grants(grant_type),
                scopes=split_csv(scopes),
                token_endpoint_auth_method=method,
                jwks=jwks,
                mode=mode_of(mode),
                id_token_signed_response_alg=_alg(id_token_alg),
            ),
            "create an OAuth client",
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
    """List OAuth clients, newest first (never their secrets)."""
    with api_client(api_key, base_url, profile) as api:
        rows = api.call(lambda: list(api.client.oauth_clients.iter()), "list OAuth clients")
    columns = ("client_id", "name", "kind", "mode", "status", "grant_types", "secret_prefix")
    table(rows, columns, json_out=as_json, wide=wide)


@app.command("get")
def get(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """One OAuth client (never its secret)."""
    with api_client(api_key, base_url, profile) as api:
        row = api.call(lambda: api.client.oauth_clients.get(client_id), f"get {client_id}")
    show(row, (*FIELDS, "updated_at", "disabled_at"), json_out=as_json)


@app.command("update")
def update(
    client_id: str = CLIENT_ID,
    name: str | None = typer.Option(None, "--name", help="A new name."),
    redirect_uri: list[str] | None = REDIRECT_URI,
    grant_type: list[GrantChoice] | None = GRANT_TYPE,
    scopes: str | None = SCOPES,
    jwks_file: Path | None = JWKS_FILE,
    id_token_alg: AlgChoice | None = ID_TOKEN_ALG,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Change a client; a repeated option (--redirect-uri, --grant-type) replaces the list."""
    if not (name or redirect_uri or grant_type or scopes or jwks_file or id_token_alg):
        fail(
            "give --name, --redirect-uri, --grant-type, --scopes, --jwks-file or --id-token-alg",
            USAGE,
            code="USAGE_ERROR",
        )
    jwks = _jwks(jwks_file)
    with api_client(api_key, base_url, profile) as api:
        row = api.call(
            lambda: api.client.oauth_clients.update(
                client_id,
                name=name,
                redirect_uris=redirect_uri or None,
                grant_types=_grants(grant_type),
                scopes=split_csv(scopes),
                jwks=jwks,
                id_token_signed_response_alg=_alg(id_token_alg),
            ),
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
            lambda: api.client.oauth_clients.rotate_secret(client_id, grace_period=seconds),
            f"rotate the secret of {client_id}",
        )
    created(made, (*FIELDS, "previous_secrets_expire_at"), json_out=as_json)


def _status(client_id: str, action: str, as_json: bool, *creds: str | None) -> None:
    with api_client(*creds) as api:
        clients = api.client.oauth_clients
        call = clients.disable if action == "disable" else clients.enable
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
    """Disable an OAuth client: no new tokens, its tokens refused within a second."""
    _status(client_id, "disable", as_json, api_key, base_url, profile)


@app.command("enable")
def enable(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Enable a disabled OAuth client."""
    _status(client_id, "enable", as_json, api_key, base_url, profile)


@app.command("delete")
def delete(
    client_id: str = CLIENT_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Delete an OAuth client and its secrets, for good."""
    with api_client(api_key, base_url, profile) as api:
        api.call(lambda: api.client.oauth_clients.delete(client_id), f"delete {client_id}")
    if as_json:
        print_json({"client_id": client_id, "deleted": True})
    else:
        console.print(f"Deleted {client_id}.", highlight=False)
