from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import typer

from quantumlock.accounts.plans import effective_limits
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import ALL_SCOPES
from quantumlock.bootstrap import api_key_hasher
from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client, has_credentials
from quantumlock.cli.common import (
    account_service,
    console,
    data_dir,
    err_console,
    fail,
    open_session,
    print_json,
    settings,
    split_csv,
)
from quantumlock.cli.output import AS_JSON, WIDE, print_table, ts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qcos import ApiKey as SdkKey
    from qcos import KeyType as SdkKeyType
    from qcos import Scope as SdkScope
    from quantumlock.auth.models import ApiKey
    from quantumlock.auth.service import ApiKeyService
    from quantumlock.keyring.hasher import KeyHasher

app = typer.Typer(
    help="API keys of your account, through the API (scope admin). Operators: with "
    "--account ID the command acts on that account in the data dir instead.",
    no_args_is_help=True,
)

OPERATOR_ACCOUNT = typer.Option(
    None,
    "--account",
    show_default=False,
    help="Operator: act on this account (cust_…) in the data dir, not through the API.",
)


class TypeChoice(StrEnum):
    live = "live"
    test = "test"
    restricted = "restricted"


def _key_service(session: Session, hasher: KeyHasher) -> ApiKeyService:
    from quantumlock.auth.service import ApiKeyService  # see quantumlock.cli.common

    return ApiKeyService(session, hasher)


def _key_json(key: ApiKey) -> dict[str, Any]:
    from quantumlock.auth.schemas import ApiKeyOut

    return ApiKeyOut.from_row(key).model_dump(mode="json")


def _operator(account_id: str, session: object) -> Principal:
    """The CLI acts with every right on the account, through the same rules as the API."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)  # noqa: S101
    account = account_service(session).get(account_id)
    return Principal(
        key_id="operator",
        account_id=account.id,
        key_type=KeyType.LIVE,
        mode=Mode.LIVE,
        granted_scopes=ALL_SCOPES,
        scopes=ALL_SCOPES,
        expires_at=None,
        revoked_at=None,
        limits=effective_limits(
            account.plan,
            requests_per_minute=None,
            burst=None,
            licenses_per_month=None,
            licenses_unlimited=False,
        ),
    )


FIELDS = ("id", "name", "type", "mode", "prefix", "scopes", "expires_at")


def _show(data: dict[str, Any], *, secret: str | None) -> None:
    for field in FIELDS:
        value = data[field]
        shown = ",".join(value) if isinstance(value, list) else value
        console.print(f"{field:>10}: {'' if shown is None else shown}", highlight=False)
    if secret:
        console.print(f"{'key':>10}: {secret}  (shown once)", highlight=False)


def _sdk_json(key: SdkKey) -> dict[str, Any]:
    """The API's ApiKeyOut fields, timestamps as the API wrote them."""
    return {
        "id": key.id,
        "name": key.name,
        "type": key.type,
        "mode": key.mode,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "created_at": ts(key.created_at),
        "last_used_at": ts(key.last_used_at),
        "expires_at": ts(key.expires_at),
        "revoked_at": ts(key.revoked_at),
    }


def _created(data: dict[str, Any], secret: str, as_json: bool, **extra: Any) -> None:
    if as_json:
        print_json({**data, "key": secret, **extra})
    else:
        _show(data, secret=secret)


def _as_operator(account: str | None, api_key: str | None, profile: str | None) -> bool:
    """--account: the operator form. Without it the API, unless no API key is configured at
    all and a data dir is there: then the contract's operator form `keys revoke KEY_ID`."""
    if account is not None:
        return True
    if has_credentials(api_key, profile):
        return False
    where = data_dir()
    if not (where.explicit or os.environ.get("QL_DATABASE_URL") or where.path.exists()):
        return False  # nothing to operate on: let the API path say "no API key"
    err_console.print(
        f"No API key configured: acting as the operator on {where.describe()}.", highlight=False
    )
    return True


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Key name (1-100 characters)."),
    scopes: str | None = typer.Option(None, "--scopes", help="Comma-separated scopes."),
    key_type: TypeChoice | None = typer.Option(None, "--type", help="live, test or restricted."),
    expires_in: str | None = typer.Option(None, "--expires-in", help="e.g. 90d, 12h, 1y."),
    account: str | None = OPERATOR_ACCOUNT,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create a key (its secret is shown once); through the API unless --account is given.

    With --scopes and no --type it is a restricted (qcos_rkey_) key.
    """
    kind = key_type.value if key_type else None
    if account is None:
        with api_client(api_key, base_url, profile) as api:
            made = api.call(
                lambda: api.client.keys.create(
                    name,
                    # The server names an unknown scope or type (400).
                    scopes=cast("list[SdkScope] | None", split_csv(scopes)),
                    expires_in=expires_in,
                    type=cast("SdkKeyType | None", kind),
                ),
                "create a key",
            )
        _created(_sdk_json(made), made.key, as_json)
        return
    cfg = settings()
    with open_session(cfg) as session:
        service = _key_service(session, api_key_hasher(cfg))
        issued = service.create(
            _operator(account, session),
            name=name,
            scopes=split_csv(scopes),
            expires_in=expires_in,
            key_type=kind,
        )
        data = _key_json(issued.key)
    _created(data, issued.secret, as_json)


@app.command("list")
def list_keys(
    include_revoked: bool = typer.Option(
        False, "--all", help="Operator (--account): include revoked keys (the API lists live ones)."
    ),
    account: str | None = OPERATOR_ACCOUNT,
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """List keys (never their secrets). Through the API unless --account is given."""
    if account is None:
        if include_revoked:
            fail("--all needs --account: the API lists unrevoked keys only", 2, code="USAGE_ERROR")
        with api_client(api_key, base_url, profile) as api:
            keys = api.client.keys
            every = getattr(keys, "iter", None)  # paginated SDKs page for us
            found = api.call(lambda: list(every() if every else keys.list()), "list keys")
        rows = [_sdk_json(k) for k in found]
    else:
        cfg = settings()
        with open_session(cfg) as session:
            account_service(session).get(account)
            service = _key_service(session, api_key_hasher(cfg))
            listed = service.list_for_account(account, include_revoked=include_revoked)
            rows = [_key_json(k) for k in listed]
    if as_json:
        print_json(rows)
        return
    columns = ("id", "name", "type", "prefix", "scopes", "last_used_at", "expires_at")
    print_table(
        (*columns, "revoked_at"),
        ([r[c] for c in columns] + [r["revoked_at"]] for r in rows),
        wide=wide,
        ids=("id", "prefix"),
    )


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="Key id (key_…)."),
    account: str | None = OPERATOR_ACCOUNT,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Revoke a key; servers refuse it within a second.

    Through the API when an API key is configured; with --account, or with no API key but
    a data dir, as the operator (the contract's `keys revoke KEY_ID`).
    """
    if _as_operator(account, api_key, profile):
        cfg = settings()
        with open_session(cfg) as session:
            service = _key_service(session, api_key_hasher(cfg))
            if account is None:
                service.revoke_by_id(key_id)
            else:
                service.revoke(_operator(account, session), key_id)
    else:
        with api_client(api_key, base_url, profile) as api:
            api.call(lambda: api.client.keys.revoke(key_id), f"revoke {key_id}")
    if as_json:
        print_json({"id": key_id, "revoked": True})
    else:
        console.print(f"Revoked {key_id}.", highlight=False)


@app.command("rotate")
def rotate(
    key_id: str = typer.Argument(..., help="Key id (key_…)."),
    grace_period: str = typer.Option("24h", "--grace-period", help="How long the old key lives."),
    account: str | None = OPERATOR_ACCOUNT,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Issue a replacement key; the old one expires after the grace period.

    Through the API when an API key is configured; with --account, or with no API key but
    a data dir, as the operator.
    """
    if not _as_operator(account, api_key, profile):
        with api_client(api_key, base_url, profile) as api:
            made = api.call(
                lambda: api.client.keys.rotate(key_id, grace_period=grace_period),
                f"rotate {key_id}",
            )
        data, secret = _sdk_json(made), made.key
        previous_expiry = ts(made.previous_key_expires_at)
    else:
        cfg = settings()
        with open_session(cfg) as session:
            service = _key_service(session, api_key_hasher(cfg))
            rotated = (
                service.rotate_by_id(key_id, grace_period)
                if account is None
                else service.rotate(_operator(account, session), key_id, grace_period)
            )
            data, secret = _key_json(rotated.new.key), rotated.new.secret
            previous_expiry = _key_json(rotated.previous)["expires_at"]
    if as_json:
        _created(data, secret, True, rotated_from=key_id, previous_key_expires_at=previous_expiry)
    else:
        _show(data, secret=secret)
        console.print(f"{key_id} expires at {previous_expiry}.", highlight=False)
