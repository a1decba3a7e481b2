from __future__ import annotations

from enum import StrEnum

import typer
from rich.table import Table

from quantumlock.accounts.plans import effective_limits
from quantumlock.accounts.service import AccountService
from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.schemas import ApiKeyOut
from quantumlock.auth.scopes import ALL_SCOPES
from quantumlock.auth.service import ApiKeyService
from quantumlock.cli.common import console, open_session, print_json, settings, split_csv

app = typer.Typer(help="API keys.", no_args_is_help=True)


class TypeChoice(StrEnum):
    live = "live"
    test = "test"
    restricted = "restricted"


def _operator(account_id: str, session: object) -> Principal:
    """The CLI acts with every right on the account, through the same rules as the API."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)  # noqa: S101
    account = AccountService(session).get(account_id)
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
        service = ApiKeyService(session, cfg.api_key_hasher())
        issued = service.create(
            _operator(account, session),
            name=name,
            scopes=split_csv(scopes),
            expires_in=expires_in,
            key_type=key_type.value if key_type else None,
        )
        data = ApiKeyOut.from_row(issued.key).model_dump(mode="json")
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
        AccountService(session).get(account)
        service = ApiKeyService(session, cfg.api_key_hasher())
        rows = [
            ApiKeyOut.from_row(k).model_dump(mode="json")
            for k in service.list_for_account(account, include_revoked=include_revoked)
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
        ApiKeyService(session, cfg.api_key_hasher()).revoke_by_id(key_id)
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
        service = ApiKeyService(session, cfg.api_key_hasher())
        rotated = service.rotate_by_id(key_id, grace_period)
        data = ApiKeyOut.from_row(rotated.new.key).model_dump(mode="json")
        previous = ApiKeyOut.from_row(rotated.previous).model_dump(mode="json")
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
