"""Keyset (cursor) pagination, newest first, for any table with a creation time and an id.

Offset paging over a newest-first list repeats or skips rows when rows are created while a
client walks it; a keyset page starts strictly after the last row the client saw, so it
does neither. The cursor a page hands out is the id of its last row: the repository looks
that row up (within the caller's tenant, so another tenant's id is just an unknown cursor)
and passes its (created_at, id) here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    has_more: bool


def newest_first_page(
    session: Session,
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    id_: InstrumentedAttribute[Any],
    after: tuple[datetime, Any] | None,
    limit: int,
) -> Page[Any]:
    """Up to `limit` rows of `query`, newest first, strictly after the `after` position
    (the (created_at, id) of the previous page's last row; None: from the newest)."""
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(created_at < at, and_(created_at == at, id_ < last_id)),
        )
    # One row more than asked tells whether another page follows, without a count.
    rows = session.scalars(query.order_by(created_at.desc(), id_.desc()).limit(limit + 1)).all()
    return Page(rows[:limit], len(rows) > limit)
