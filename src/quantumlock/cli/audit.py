"""`quantumlock audit` and `quantumlock licenses events KEY`: the audit trail through the API.

Vendor commands: they act as an API key holder would, through the SDK, with `--api-key` /
QCOS_API_KEY and `--base-url` / QCOS_BASE_URL (no data directory, no master key).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import console, print_json
from quantumlock.cli.crypto import AS_JSON

if TYPE_CHECKING:
    from qcos import AuditEvent, Client, LicenseEvent

EVENT_TYPES = (
    "license.generate, license.revoke, license.suspend, license.reinstate, license.renew, "
    "api_key.create, api_key.revoke, api_key.rotate, api_key.update; identity: user.create, "
    "user.update, user.disable, user.enable, user.delete, user.password_set, user.login, "
    "user.login_failed, user.locked, user.logout, session.revoke, user.totp_enable, "
    "user.totp_disable, and the OAuth client, service account and token events"
)


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, separators=(",", ":"), sort_keys=True) if detail else ""


def _table(*columns: str) -> Table:
    table = Table()
    for column in columns:
        # Ids are never cut short: a long cell wraps instead. Timestamps and types stay whole.
        table.add_column(column, overflow="fold", no_wrap=column in ("at", "type", "action"))
    return table


def _audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "actor_key_id": event.actor_key_id,
        "mode": event.mode,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "license_key": event.license_key,
        "address": event.address,
        "detail": event.detail,
    }


def audit(
    types: list[str] | None = typer.Option(
        None, "--type", help=f"Only this event type (repeat for several): {EVENT_TYPES}."
    ),
    since: str | None = typer.Option(None, "--since", help="At or after (ISO 8601)."),
    until: str | None = typer.Option(None, "--until", help="Before (ISO 8601)."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many events (newest first)."),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
    as_json: bool = AS_JSON,
) -> None:
    """The account's audit trail, newest first: license lifecycle, API-key changes, users,
    sign-ins and lock-outs, with who acted and from where (needs a key with the admin
    scope)."""

    def fetch(client: Client) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        for event in client.audit.iter(
            types=types,  # type: ignore[arg-type]  # the server refuses unknown types (400)
            since=since,
            until=until,
            page_size=min(limit, 200),
        ):
            events.append(event)
            if len(events) >= limit:
                break
        return events

    with api_client(api_key, base_url, profile) as api:
        events = api.call(lambda: fetch(api.client), "read the audit trail")
    if as_json:
        print_json([_audit_json(e) for e in events])
        return
    table = _table("at", "type", "object", "actor", "address", "mode", "detail")
    for e in events:
        target = e.license_key or e.object_id
        table.add_row(
            _audit_json(e)["at"],
            e.type,
            target,
            e.actor_key_id,
            e.address or "",
            e.mode,
            _detail(e.detail),
        )
    console.print(table)


def _license_event_json(event: LicenseEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "action": event.action,
        "key_id": event.key_id,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "detail": event.detail,
    }


def license_events(
    license_key: str = typer.Argument(..., help="License key (QLOCK-…)."),
    skip: int = typer.Option(0, "--skip", min=0, help="Events to skip (newest first)."),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="Events per page."),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
    as_json: bool = AS_JSON,
) -> None:
    """A license's lifecycle events, newest first (scope licenses:read)."""
    with api_client(api_key, base_url, profile) as api:
        page = api.call(
            lambda: api.client.licenses.events(license_key, skip=skip, limit=limit),
            "read the license's events",
        )
    if as_json:
        print_json(
            {
                "total": page.total,
                "skip": page.skip,
                "limit": page.limit,
                "events": [_license_event_json(e) for e in page.events],
            }
        )
        return
    table = _table("at", "action", "key_id", "detail")
    for e in page.events:
        table.add_row(_license_event_json(e)["at"], e.action, e.key_id, _detail(e.detail))
    console.print(table)
    shown = page.skip + len(page.events)
    if shown < page.total:
        console.print(f"{shown} of {page.total}; next: --skip {shown}", highlight=False)
