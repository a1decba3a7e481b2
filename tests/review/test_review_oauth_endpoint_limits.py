"""Review of #19: /oauth/revoke and /oauth/introspect authenticate clients with their secret
like /oauth/token, so they share its rate limit: without it, secrets could be guessed there
without bound (each failure also writes an audit event: a cheap way to flood the trail)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.settings import Settings
from tests.conftest import MASTER_KEY


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
def test_wrong_secrets_at_introspect_and_revoke_are_rate_limited(
    database_url: str, tmp_path: Path, path: str
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
                        oauth_token_per_minute=1, oauth_token_burst=2)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.post(path, data={"token": "x"}, headers=_basic("service_x", f"s{i}")).status_code
            for i in range(3)
        ]
    assert statuses == [401, 401, 429]
