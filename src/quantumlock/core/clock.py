"""Time helpers: one place that says what "now" is (UTC, aware) and how durations read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdwy])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
MAX_DURATION = timedelta(days=10 * 365)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


class DurationError(ValueError):
    pass


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Durations like ``30d``, ``90d``, ``12h``, ``1y``, ``15m`` (minutes), ``2w``, ``30s``."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise DurationError(
            f"Invalid duration {text!r}: use a number and a unit s, m, h, d, w or y (e.g. 90d)."
        )
    value = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if not allow_zero and value <= timedelta(0):
        raise DurationError("Duration must be greater than zero.")
    if value > MAX_DURATION:
        raise DurationError("Duration must be at most 10 years.")
    return value
