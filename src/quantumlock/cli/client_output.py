"""What `quantumlock oauth-clients` and `service-accounts` share: printing an OAuth client
or service account (the API's field names in --json), the one-time secret, --grace."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import typer

from quantumlock.cli.common import USAGE, console, err_console, fail, print_json
from quantumlock.cli.output import print_table, ts
from quantumlock.core.clock import DurationError, parse_duration

GRACE = typer.Option(
    "24h",
    "--grace",
    help="How long the secrets that work now keep working: 24h (default), 90m, 7d at most, "
    "seconds (3600), or 0 to end them now.",
)


class ModeChoice(StrEnum):
    live = "live"
    test = "test"


MODE = typer.Option(None, "--mode", help="live or test (default: the calling key's mode).")


def mode_of(choice: ModeChoice | None) -> Literal["live", "test"] | None:
    if choice is None:
        return None
    return "test" if choice is ModeChoice.test else "live"


ONCE_WARNING = "Store the client secret now: it is shown once and cannot be read again."


def grace_seconds(text: str) -> int:
    """`--grace` as seconds: a plain number, or a duration like 24h (the server caps it)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        return int(parse_duration(value, allow_zero=True).total_seconds())
    except DurationError as exc:
        fail(f"--grace: {exc}", USAGE, code="USAGE_ERROR")


def as_json(row: Any) -> dict[str, Any]:
    """An SDK result as the API's fields (timestamps as the API writes them)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return ts(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    return {f.name: plain(getattr(row, f.name)) for f in dataclasses.fields(row)}


def show(row: Any, fields: tuple[str, ...], *, json_out: bool) -> None:
    data = as_json(row)
    data.pop("client_secret", None)  # only `created` prints it, with its warning
    if json_out:
        print_json(data)
        return
    for field in fields:
        value = data.get(field)
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else value
        console.print(f"{field:>26}: {'' if shown is None else shown}", highlight=False)


def created(row: Any, fields: tuple[str, ...], *, json_out: bool, **extra: Any) -> None:
    """A new or rotated one: its fields and, once, its client secret (with a warning)."""
    secret = getattr(row, "client_secret", None)
    if json_out:
        data = as_json(row)
        print_json({**data, **extra})
    else:
        show(row, fields, json_out=False)
        for name, value in extra.items():
            console.print(f"{name:>26}: {'' if value is None else value}", highlight=False)
        if secret:
            console.print(f"{'client_secret':>26}: {secret}", highlight=False)
    if secret:
        err_console.print(f"warning: {ONCE_WARNING}", highlight=False)


def table(rows: list[Any], columns: tuple[str, ...], *, json_out: bool, wide: bool) -> None:
    data = [as_json(r) for r in rows]
    if json_out:
        print_json(data)
        return
    print_table(
        columns,
        ([d.get(c) for c in columns] for d in data),
        wide=wide,
        ids=("client_id", "secret_prefix"),
    )
