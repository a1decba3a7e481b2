"""How every command prints: JSON for programs, tables that never cut an id for people,
timestamps exactly as the API writes them."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
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
    """Nothing is ever cut: a table that fits the terminal is printed as one; one that does
    not is printed as a block of `column: value` lines per row (ids whole, other values
    wrapped between words). `wide`, or output that is not a terminal: one line per row."""
    texts = [[cell(v) for v in row] for row in rows]
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, no_wrap=True)
    for row in texts:
        table.add_row(*row)
    if wide or not sys.stdout.isatty():
        Console(width=100_000, soft_wrap=True).print(table)
        return
    console = Console()
    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    if title:
        console.print(title, highlight=False)
    label = max(len(name) for name in columns)
    for row in texts:
        console.print()
        for name, value in zip(columns, row, strict=True):
            console.print(f"{name:>{label}}: {value}", highlight=False, soft_wrap=name in ids)
