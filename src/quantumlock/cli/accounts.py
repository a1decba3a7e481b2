from __future__ import annotations

from typing import Any

import typer

from quantumlock.accounts.plans import Plan
from quantumlock.bootstrap import api_key_hasher
from quantumlock.cli import users
from quantumlock.cli.common import (
    account_service,
    console,
    fail,
    open_session,
    print_json,
    settings,
)
from quantumlock.cli.output import AS_JSON, WIDE, print_table
from quantumlock.core.clock import isoformat

app = typer.Typer(
    help="Operator: accounts (vendors) and their limits, in the data dir.", no_args_is_help=True
)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Account name."),
    email: str = typer.Option(..., "--email", help="Contact email."),
    plan: Plan = typer.Option(Plan.FREE, "--plan", help="Plan."),
    owner_email: str | None = typer.Option(
        None, "--owner-email", help="Also create the account's first owner (a user)."
    ),
    owner_password_stdin: bool = typer.Option(
        False,
        "--owner-password-stdin",
        help="The owner's password from stdin; without it, a one-time set-password link is "
        "printed (base URL $QL_ISSUER, else http://127.0.0.1:8000).",
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Create an account and its first key (scope admin). The key is shown once."""
    if owner_password_stdin and owner_email is None:
        fail("--owner-password-stdin needs --owner-email.", 2, code="USAGE_ERROR")
    password = users.read_password_stdin() if owner_password_stdin else None
    cfg = settings()
    owner: dict[str, Any] | None = None
    with open_session(cfg) as session:
        created = account_service(session).create(
            name=name, email=email, plan=plan.value, hasher=api_key_hasher(cfg)
        )
        if owner_email is not None:
            from quantumlock.core.actor import Actor

            made = users.user_service(session, cfg).create(
                Actor.operator(created.account.id),
                email=owner_email,
                role="owner",
                password=password,
            )
            owner = users.created_json(made, cfg)
    if as_json:
        out: dict[str, Any] = {"id": created.account.id, "api_key": created.admin_key.secret}
        if owner is not None:
            out["owner"] = owner
        print_json(out)
        return
    console.print(f"Account [bold]{created.account.id}[/bold] ({plan.value})")
    console.print(f"Admin API key (shown once): {created.admin_key.secret}", highlight=False)
    if owner is not None:
        console.print(f"Owner {owner['id']} <{owner['email']}>", highlight=False)
        if owner["set_password_url"]:
            console.print(
                f"Owner's set-password link (24 h, shown once): {owner['set_password_url']}",
                highlight=False,
            )


@app.command("list")
def list_accounts(as_json: bool = AS_JSON, wide: bool = WIDE) -> None:
    """List accounts."""
    with open_session(settings()) as session:
        rows = account_service(session).list()
        data = [
            {
                "id": a.id,
                "name": a.name,
                "email": a.email,
                "plan": a.plan,
                "created_at": isoformat(a.created_at),
                "requests_per_minute": a.requests_per_minute,
                "burst": a.burst,
                "licenses_per_month": "unlimited" if a.licenses_unlimited else a.licenses_per_month,
            }
            for a in rows
        ]
    if as_json:
        print_json(data)
        return
    columns = ("id", "name", "email", "plan", "created_at", "rpm", "burst", "licenses/month")
    print_table(columns, (list(row.values()) for row in data), wide=wide)


@app.command("set-limits")
def set_limits(
    account_id: str = typer.Argument(..., help="Account id (cust_…)."),
    requests_per_minute: int | None = typer.Option(None, "--requests-per-minute", min=1),
    burst: int | None = typer.Option(None, "--burst", min=1),
    licenses_per_month: str | None = typer.Option(
        None, "--licenses-per-month", help="A number, or 'unlimited'."
    ),
    plan: Plan | None = typer.Option(None, "--plan", help="Change the plan."),
    as_json: bool = AS_JSON,
) -> None:
    """Override the plan's limits. Running servers apply it within a second."""
    quota: int | None = None
    unlimited = False
    if licenses_per_month is not None:
        if licenses_per_month.strip().lower() == "unlimited":
            unlimited = True
        elif licenses_per_month.strip().isdigit():
            quota = int(licenses_per_month)
        else:
            fail(
                "--licenses-per-month takes a whole number or 'unlimited'.",
                2,
                code="USAGE_ERROR",
            )
    with open_session(settings()) as session:
        account = account_service(session).set_limits(
            account_id,
            requests_per_minute=requests_per_minute,
            burst=burst,
            licenses_per_month=quota,
            licenses_unlimited=unlimited,
            plan=plan.value if plan else None,
        )
        data = {
            "id": account.id,
            "plan": account.plan,
            "requests_per_minute": account.requests_per_minute,
            "burst": account.burst,
            "licenses_per_month": "unlimited"
            if account.licenses_unlimited
            else account.licenses_per_month,
        }
    if as_json:
        print_json(data)
        return
    console.print(" ".join(f"{k}={v}" if k != "id" else f"{v}:" for k, v in data.items()),
                  highlight=False)  # fmt: skip
