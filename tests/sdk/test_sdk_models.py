"""The typed models: parsing, timezones, immutability, forward compatibility, secret repr."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qcos import ApiKey, CreatedKey, Me, RateLimitInfo
from qcos._models import parse_datetime
from tests.sdk.conftest import KEY_ROW, ME, SECRET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.123456Z", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00", datetime(2026, 1, 1, tzinfo=UTC)),  # naive is read as UTC
    ],
)
def test_timestamps_are_timezone_aware(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected and parsed is not None and parsed.tzinfo is not None


def test_offset_is_kept() -> None:
    parsed = parse_datetime("2026-01-01T02:00:00+02:00")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=2)
    assert parsed.tzinfo == timezone(timedelta(hours=2))


def test_me_parses_nested_rate_limit_and_ignores_unknown_fields() -> None:
    me = Me.from_dict(
        {
            **ME,
            "expires_at": "2026-03-01T00:00:00Z",
            "new_field": 1,
            "rate_limit": {**ME["rate_limit"], "burst": 10},
        }
    )
    assert me.expires_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert me.rate_limit == RateLimitInfo(
        limit=500, remaining=499, reset_at=datetime(2026, 2, 6, 12, 1, tzinfo=UTC)
    )


def test_models_are_immutable() -> None:
    key = ApiKey.from_dict(KEY_ROW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.name = "other"  # type: ignore[misc]
    assert not hasattr(key, "__dict__")  # slots: no stray attributes either


def test_created_key_is_an_api_key_whose_repr_hides_the_secret() -> None:
    created = CreatedKey.from_dict(
        {**KEY_ROW, "key": SECRET, "rotated_from": "key_old", "previous_key_expires_at": None}
    )
    assert isinstance(created, ApiKey)
    assert created.key == SECRET and created.rotated_from == "key_old"
    assert created.previous_key_expires_at is None
    assert SECRET not in repr(created) and SECRET not in str(created)
    assert "key_abc" in repr(created)


def test_created_key_without_rotation_fields() -> None:
    created = CreatedKey.from_dict({**KEY_ROW, "key": SECRET})
    assert created.rotated_from is None and created.previous_key_expires_at is None


def test_nullable_timestamps() -> None:
    row = {**KEY_ROW, "last_used_at": "2026-01-05T10:00:00Z", "revoked_at": None}
    key = ApiKey.from_dict(row)
    assert key.last_used_at == datetime(2026, 1, 5, 10, tzinfo=UTC) and key.revoked_at is None
    assert (
        ApiKey.from_dict({k: v for k, v in KEY_ROW.items() if k != "last_used_at"}).last_used_at
        is None
    )
