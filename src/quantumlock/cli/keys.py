from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from quantumlock.accounts.plans import effective_limits
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import ALL_SCOPES
from quantumlock.bootstrap import api_key_hasher
from quantumlock.cli.common import (
    account_service,
    console,
    open_session,
    print_json,
    settings,
    split_csv,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from quantumlock.auth.models import ApiKey
    from quantumlock.auth.service import ApiKeyService
    from quantumlock.keyring.hasher import KeyHasher

app = typer.Typer(help="API keys.", no_args_is_help=True)


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


def _show(data: dict[str, object], *, secret: str | None) -> None:
    for field in ("id", "name", "type", "prefix", "scopes", "expires_at"):
        console.print(f"{field:>10}: {data[field]}", highlight=False)
    if secret:
        console.print(f"{'key':>10}: {secret}  (shown once)", highlight=False)


@app.command("create")
def create(
    account: str = typer.Option(..., "--account", help="Account id (cust_…)."),
    name: str = typer.Option(..., "--name", help="Key name (1-100 characters)."),
    scopes: str | None = typer.Option(None, "--scopes", help="Comma-separated scopes."),
    key_type: TypeChoice | None = typer.Option(None, "--type", help="live, test or restricted."),
    expires_in: str | None = typer.Option(None, "--expires-in", help="e.g. 90d, 12h, 1y."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a key. With --scopes and no --type it is a restricted (qcos_rkey_) key."""
    cfg = settings()
    with open_session(cfg) as session:
        service = _key_service(session, api_key_hasher(cfg))
        issued = service.create(
            _operator(account, session),
            name=name,
            scopes=split_csv(scopes),
            expires_in=expires_in,
            key_type=key_type.value if key_type else None,
        )
        data = _key_json(issued.key)
    if as_json:
        print_json({**data, "key": issued.secret})
    else:
        _show(data, secret=issued.secret)


@app.command("list")
def list_keys(
    account: str = typer.Option(..., "--account", help="Account id (cust_…)."),
    include_revoked: bool = typer.Option(False, "--all", help="Include revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List an account's keys (never their secrets)."""
    cfg = settings()
    with open_session(cfg) as session:
        account_service(session).get(account)
        service = _key_service(session, api_key_hasher(cfg))
        rows = [
            _key_json(k) for k in service.list_for_account(account, include_revoked=include_revoked)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "type", "prefix", "scopes", "last_used_at", "expires_at", "revoked")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["type"],
            r["prefix"],
            ",".join(r["scopes"]),
            r["last_used_at"] or "",
            r["expires_at"] or "",
            "yes" if r["revoked_at"] else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="Key id (key_…).")) -> None:
    """Revoke a key. Running servers refuse it within a second."""
    cfg = settings()
    with open_session(cfg) as session:
        _key_service(session, api_key_hasher(cfg)).revoke_by_id(key_id)
    console.print(f"Revoked {key_id}.")


@app.command("rotate")
def rotate(
    key_id: str = typer.Argument(..., help="Key id (key_…)."),
    grace_period: str = typer.Option("24h", "--grace-period", help="How long the old key lives."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Issue a replacement key; the old one expires after the grace period."""
    cfg = settings()
    with open_session(cfg) as session:
        service = _key_service(session, api_key_hasher(cfg))
        rotated = service.rotate_by_id(key_id, grace_period)
        data = _key_json(rotated.new.key)
        previous = _key_json(rotated.previous)
    if as_json:
        print_json(
            {
                **data,
                "key": rotated.new.secret,
                "rotated_from": key_id,
                "previous_key_expires_at": previous["expires_at"],
            }
        )
    else:
        _show(data, secret=rotated.new.secret)
        console.print(f"{key_id} expires at {previous['expires_at']}.", highlight=False)
