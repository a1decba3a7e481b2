"""Requests and 429 refusals per API key (or OAuth client / service account) and UTC day.

`quantumlock.web.security.authenticate` adds every authenticated request to the runtime's
`key_usage` counters, and the API's 429 answer adds the refusal (quantumlock.web.errors);
both are in-memory adds. The auth domain's background flush writes them here in batches.
Keys of the counters are (account_id, key_id, UTC day as days since the epoch): an int
costs the request path less than formatting a date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from quantumlock.auth.repository import KeyUsageRepository

UsageKey = tuple[str, str, int]  # (account_id, key_id, epoch day)
EPOCH = date(1970, 1, 1)


def epoch_day(timestamp: float) -> int:
    return int(timestamp // 86400)


def day_text(day: int) -> str:
    """An epoch day as the table stores it: "YYYY-MM-DD"."""
    return (EPOCH + timedelta(days=day)).isoformat()


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str
    requests: int
    throttled: int


@dataclass(frozen=True, slots=True)
class KeyUse:
    key_id: str
    name: str | None  # None: not an API key (an OAuth client or service account id)
    requests: int
    throttled: int


class KeyUsageService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = KeyUsageRepository(session)

    def record(self, counts: dict[UsageKey, list[int]]) -> None:
        """Add drained counts (quantumlock.core.counters) to the stored ones."""
        # An account deleted since its requests were counted: its rows would fail the
        # foreign key, and a batch put back after every failure would never be written.
        live = self.repo.existing_accounts(sorted({account_id for account_id, _, _ in counts}))
        rows = [
            (account_id, day_text(day), key_id, amounts[0], amounts[1])
            for (account_id, key_id, day), amounts in sorted(counts.items())
            if account_id in live
        ]
        self.repo.add_counts(rows)
        self.session.flush()

    def daily(self, account_id: str, days: int, today: date | None = None) -> list[DayUsage]:
        """The last `days` UTC days up to today, oldest first, a zero row for a day
        without requests (a chart needs every day)."""
        today = today or datetime.now(UTC).date()
        first = today - timedelta(days=days - 1)
        stored = {day: (r, t) for day, r, t in self.repo.per_day(account_id, first.isoformat())}
        out = []
        for offset in range(days):
            day = (first + timedelta(days=offset)).isoformat()
            requests, throttled = stored.get(day, (0, 0))
            out.append(DayUsage(day, requests, throttled))
        return out

    def top_keys(
        self, account_id: str, days: int, limit: int = 10, today: date | None = None
    ) -> Sequence[KeyUse]:
        """The account's keys with the most requests in the last `days` days, by name."""
        today = today or datetime.now(UTC).date()
        since = (today - timedelta(days=days - 1)).isoformat()
        rows = self.repo.per_key(account_id, since, limit)
        names = self.repo.key_names(account_id, [key_id for key_id, _, _ in rows])
        return [KeyUse(k, names.get(k), r, t) for k, r, t in rows]
