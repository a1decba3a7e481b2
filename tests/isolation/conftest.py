"""The matrix's OAuth access-token variant runs on SQLite in `make test` and on PostgreSQL too in
`make test-long`: which account and mode a token stands for is decided before any query, the
same way on both databases, and the API-key variant runs on both in `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent != HERE:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("credential") == "access_token" and params.get("database_url") == "postgres":
            item.add_marker(pytest.mark.long)
