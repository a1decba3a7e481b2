"""How every command prints: JSON for programs, tables that never cut an id for people,
timestamps exactly as the API writes them."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

AS_JSON = typer.Option(False, "--json", help="Print JSON (the API's field names and values).")
WIDE = typer.Option(
    False, "--wide", help="One line per row, however wide (default: wrap cells, never ids)."
)


def ts(value: datetime | None) -> str | None:
    """A timestamp as the API writes it (ISO 8601, UTC, `Z`), not as Python prints it."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return ts(value) or ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    wide: bool = False,
    ids: Sequence[str] = ("id",),
    title: str | None = None,
) -> None:
    """Id columns (and any column named in `ids`) are never wrapped or cut: a narrow terminal
    wraps the other cells between words instead. `wide`, or output that is not a terminal,
    prints every row on one line."""
    texts = [[cell(v) for v in row] for row in rows]
    table = Table(title=title, title_justify="left")
    for index, name in enumerate(columns):
        if name in ids:
            longest = max([len(name), *(len(r[index]) for r in texts)])
            table.add_column(name, no_wrap=True, min_width=longest)
        else:
            table.add_column(name, overflow="fold")
    for row in texts:
        table.add_row(*row)
    one_line = wide or not sys.stdout.isatty()
    Console(width=100_000 if one_line else None, soft_wrap=one_line).print(table)
