"""`quantumlock users`: the account's users. Operators create them in the data dir
(`users create --account ID ...`); vendors manage them through the API (scope admin)."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

import typer

from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, console, fail, open_session, print_json, settings
from quantumlock.cli.output import AS_JSON, WIDE, print_table, ts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from qcos import Role as SdkRole
    from qcos import User as SdkUser
    from quantumlock.identity.users.service import CreatedUser, UserService
    from quantumlock.settings import Settings

app = typer.Typer(
    help="Users of your account (people who sign in), through the API (scope admin). "
    "Operators: `users create --account ID` creates one in the data dir.",
    no_args_is_help=True,
)


class RoleChoice(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"


FIELDS = ("id", "email", "name", "role", "status", "has_password", "totp_enabled")


def read_password_stdin() -> str:
    """The password from stdin (first line): never an argument, which `ps` would show."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("--password-stdin: stdin held no password.", USAGE, code="USAGE_ERROR")
    return password


def link_base(cfg: Settings) -> str:
    from quantumlock.identity.users.service import DEFAULT_BASE_URL

    issuer: str | None = getattr(cfg, "issuer", None) or os.environ.get("QL_ISSUER")
    return (issuer or DEFAULT_BASE_URL).rstrip("/")


def user_service(session: Session, cfg: Settings) -> UserService:
    from quantumlock.bootstrap import api_key_hasher, make_sealer
    from quantumlock.identity.users.service import UserService

    return UserService(session, api_key_hasher(cfg), make_sealer(cfg))


def created_json(created: CreatedUser, cfg: Settings) -> dict[str, Any]:
    """The API's CreatedUserOut for a user the operator made."""
    from quantumlock.identity.users.schemas import UserOut
    from quantumlock.identity.users.service import set_password_url

    token = created.link_token
    return {
        **UserOut.from_row(created.user).model_dump(mode="json"),
        "set_password_url": set_password_url(link_base(cfg), token) if token else None,
        "set_password_expires_at": ts(created.link_expires_at),
    }


def show_created(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    _show(data)
    if data.get("set_password_url"):
        console.print(
            f"One-time set-password link (24 h, shown once): {data['set_password_url']}",
            highlight=False,
        )


def _show(data: dict[str, Any]) -> None:
    for field in FIELDS:
        value = data.get(field)
        console.print(f"{field:>13}: {'' if value is None else value}", highlight=False)


def _sdk_json(user: SdkUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "account_id": user.account_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "status": user.status,
        "has_password": user.has_password,
        "totp_enabled": user.totp_enabled,
        "locked_until": ts(user.locked_until),
        "last_login_at": ts(user.last_login_at),
        "created_at": ts(user.created_at),
        "updated_at": ts(user.updated_at),
        "disabled_at": ts(user.disabled_at),
    }


def _print(data: dict[str, Any], as_json: bool) -> None:
    print_json(data) if as_json else _show(data)


@app.command("create")
def create(
    email: str = typer.Option(..., "--email", help="The user's email (their sign-in name)."),
    role: RoleChoice = typer.Option(..., "--role", help="owner, admin, member or viewer."),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a password from stdin instead of making a link."
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        show_default=False,
        help="Operator: create the user in this account (cust_…) in the data dir.",
    ),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create a user; without --password-stdin, print a one-time set-password link (24 h).

    With --account (operator), the link's base URL is $QL_ISSUER when set, else
    http://127.0.0.1:8000 (the server's default address). Without it, through the API,
    which answers the link itself.
    """
    password = read_password_stdin() if password_stdin else None
    if account is None:
        with api_client(api_key, base_url, profile) as api:
            made = api.call(
                lambda: api.client.users.create(
                    email, cast("SdkRole", role.value), name=name, password=password
                ),
                "create a user",
            )
        data = {
            **_sdk_json(made.user),
            "set_password_url": made.set_password_url,
            "set_password_expires_at": ts(made.set_password_expires_at),
        }
        show_created(data, as_json)
        return
    from quantumlock.core.actor import Actor

    cfg = settings()
    with open_session(cfg) as session:
        created = user_service(session, cfg).create(
            Actor.operator(account),
            email=email,
            role=role.value,
            name=name or "",
            password=password,
        )
        data = created_json(created, cfg)
    show_created(data, as_json)


@app.command("list")
def list_users(
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """List the account's users (never a password or secret)."""
    with api_client(api_key, base_url, profile) as api:
        found = api.call(lambda: list(api.client.users.iter()), "list users")
    rows = [_sdk_json(u) for u in found]
    if as_json:
        print_json(rows)
        return
    columns = ("id", "email", "name", "role", "status", "totp_enabled", "last_login_at")
    print_table(columns, ([r[c] for c in columns] for r in rows), wide=wide, ids=("id", "email"))


USER_ID = typer.Argument(..., help="User id (usr_…).")


@app.command("get")
def get(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Show a user."""
    with api_client(api_key, base_url, profile) as api:
        user = api.call(lambda: api.client.users.get(user_id), f"get {user_id}")
    _print(_sdk_json(user), as_json)


@app.command("update")
def update(
    user_id: str = USER_ID,
    name: str | None = typer.Option(None, "--name", help="New display name."),
    role: RoleChoice | None = typer.Option(None, "--role", help="New role."),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Rename a user or change their role (the last active owner stays an owner)."""
    if name is None and role is None:
        fail("give --name or --role", USAGE, code="USAGE_ERROR")
    new_role = cast("SdkRole | None", role.value if role else None)
    with api_client(api_key, base_url, profile) as api:
        user = api.call(
            lambda: api.client.users.update(user_id, name=name, role=new_role), f"update {user_id}"
        )
    _print(_sdk_json(user), as_json)


def _status(user_id: str, action: str, as_json: bool, creds: tuple[Any, Any, Any]) -> None:
    with api_client(*creds) as api:
        users = api.client.users
        change = users.disable if action == "disable" else users.enable
        user = api.call(lambda: change(user_id), f"{action} {user_id}")
    _print(_sdk_json(user), as_json)


@app.command("disable")
def disable(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Disable a user: no sign-in, sessions end, tokens refused within a second."""
    _status(user_id, "disable", as_json, (api_key, base_url, profile))


@app.command("enable")
def enable(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Enable a disabled user."""
    _status(user_id, "enable", as_json, (api_key, base_url, profile))


@app.command("delete")
def delete(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Delete a user (the audit trail keeps their events)."""
    with api_client(api_key, base_url, profile) as api:
        api.call(lambda: api.client.users.delete(user_id), f"delete {user_id}")
    if as_json:
        print_json({"id": user_id, "deleted": True})
    else:
        console.print(f"Deleted {user_id}.", highlight=False)


@app.command("sessions")
def sessions(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """A user's live sign-in sessions (never their tokens)."""
    with api_client(api_key, base_url, profile) as api:
        found = api.call(lambda: api.client.users.sessions(user_id), f"list sessions of {user_id}")
    rows = [
        {
            "id": s.id,
            "method": s.method,
            "mfa": s.mfa,
            "address": s.address,
            "user_agent": s.user_agent,
            "created_at": ts(s.created_at),
            "last_seen_at": ts(s.last_seen_at),
            "expires_at": ts(s.expires_at),
        }
        for s in found
    ]
    if as_json:
        print_json(rows)
        return
    columns = ("id", "method", "mfa", "address", "created_at", "last_seen_at", "expires_at")
    print_table(columns, ([r[c] for c in columns] for r in rows), wide=wide, ids=("id",))


@app.command("revoke-sessions")
def revoke_sessions(
    user_id: str = USER_ID,
    session_id: str | None = typer.Option(
        None, "--session", help="End only this session (ses_…); default: all of them."
    ),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """End a user's sessions (all, or one with --session)."""
    with api_client(api_key, base_url, profile) as api:
        count = api.call(
            lambda: api.client.users.revoke_sessions(user_id, session_id=session_id),
            f"revoke sessions of {user_id}",
        )
    if as_json:
        print_json({"id": user_id, "revoked": count})
    else:
        console.print(f"Ended {count} session(s) of {user_id}.", highlight=False)


@app.command("password-link")
def password_link(
    user_id: str = USER_ID,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """A one-time link (24 h, single use) where the user sets a new password."""
    with api_client(api_key, base_url, profile) as api:
        link = api.call(lambda: api.client.users.password_link(user_id), f"link for {user_id}")
    data = {"user_id": link.user_id, "url": link.url, "expires_at": ts(link.expires_at)}
    if as_json:
        print_json(data)
    else:
        console.print(f"One-time link (24 h, shown once): {link.url}", highlight=False)
