"""A running app (lifespan started), a fresh enterprise account with a live and a test-mode
admin key, and the app's own OpenAPI document loaded into schemathesis.

Each module gets its own app on each database: fuzzing changes the account's state, and the
isolation of that state from other tests is the point of a fresh account.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import GenerationMode

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.bootstrap import api_key_hasher
from quantumlock.settings import Settings
from tests.conftest import MASTER_KEY, bearer
from tests.secret_scan import watch_client

# `make test` runs a bounded, derandomized number of examples per operation; `make fuzz`
# sets FUZZ_EXAMPLES far higher.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
FUZZ_EXPENSIVE_EXAMPLES = int(os.environ.get("FUZZ_EXPENSIVE_EXAMPLES", "1"))
FUZZ_STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "12"))
FUZZ_STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "8"))
# A file to append each answer's status code to, for a run's counts (`make fuzz` prints them).
FUZZ_TALLY = os.environ.get("FUZZ_TALLY")


@dataclass
class FuzzTarget:
    client: TestClient
    live_key: str
    test_key: str
    openapi: dict[str, Any]

    def send(self, kwargs: dict[str, Any], key: str) -> httpx.Response:
        """Send schemathesis' requests-style kwargs through the in-process client."""
        kwargs = dict(kwargs)
        kwargs.pop("timeout", None)
        kwargs.pop("verify", None)
        kwargs.pop("allow_redirects", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        headers: dict[str, str | bytes] = {**(kwargs.pop("headers", None) or {}), **bearer(key)}
        # Generated header values (Idempotency-Key's negative cases) may be any text: sent as
        # UTF-8 bytes, as a client could, where httpx refuses a non-ASCII str.
        headers = {
            name: value.encode() if isinstance(value, str) and not value.isascii() else value
            for name, value in headers.items()
        }
        data = kwargs.pop("data", None)
        if data is not None:
            if isinstance(data, dict):
                kwargs["data"] = data
            else:
                kwargs["content"] = data if isinstance(data, bytes) else str(data).encode()
        response: httpx.Response = self.client.request(headers=headers, **kwargs)
        if FUZZ_TALLY:
            with open(FUZZ_TALLY, "a") as tally:
                tally.write(f"{response.status_code}\n")
        return response


@pytest.fixture(scope="module")
def fuzz_target(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        database_url=database_url,
        master_key=MASTER_KEY,
        change_poll_interval=0.05,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        watch_client(client)
        with app.state.runtime.unit_of_work() as session:
            created = AccountService(session).create(
                name="Fuzz Corp",
                email="fuzz@example.com",
                plan="enterprise",
                hasher=api_key_hasher(settings),
            )
        live_key = created.admin_key.secret
        made = client.post(
            "/api/v2/keys", json={"name": "fuzz-test", "type": "test"}, headers=bearer(live_key)
        )
        assert made.status_code == 201, made.text
        yield FuzzTarget(client, live_key, made.json()["data"]["key"], app.openapi())


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, from an app that is built but never started (the document
    does not depend on the database). Built at collection, so each operation is a test item;
    schemathesis' `from_fixture` does not work with this pytest (it sets `node._nodeid`)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/doc.db", master_key=MASTER_KEY)
        )
        return app.openapi()


def load_schema(*, cheap: bool = False) -> Any:
    """The document in schemathesis; `cheap`: negative cases only, fuzzing phase only (for the
    operations that make a new RSA key per valid call), unless FUZZ_EXPENSIVE_FULL is set."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.config.update(base_url="http://testserver")
    if cheap and not os.environ.get("FUZZ_EXPENSIVE_FULL"):
        schema.config.generation.update(modes=[GenerationMode.NEGATIVE])
        schema.config.phases.update(phases=["fuzzing"])
    return schema
