"""The SDK's Idempotency-Key against the real app: a retry after a dropped answer acts once."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from qcos import Client
from quantumlock.licensing.models import License
from tests.conftest import AccountFixture

SERVER = "http://testserver"


class DropFirstAnswer(httpx.BaseTransport):
    """Delivers every request to the app, but loses the first answer to `path` on its way
    back (the server acted; the client saw a broken connection)."""

    def __init__(self, inner: httpx.BaseTransport, path: str) -> None:
        self.inner, self.path = inner, path
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if request.url.path == self.path and len(self.sent) == 1:
            response.read()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def licenses_of(app: FastAPI, account_id: str) -> int:
    with app.state.runtime.unit_of_work() as session:
        query = select(func.count()).select_from(License).where(License.account_id == account_id)
        return int(session.scalar(query) or 0)


def test_a_generate_retried_after_a_dropped_answer_makes_one_license(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    transport = DropFirstAnswer(client._transport, "/api/v1/licenses/generate")
    with httpx.Client(transport=transport, base_url=SERVER) as http:
        sdk = Client(api_key=account.admin_key, base_url=SERVER, http_client=http)
        lic = sdk.licenses.generate("customer@company.com", features=["pro"])
    assert len(transport.sent) == 2
    keys = {r.headers["idempotency-key"] for r in transport.sent}
    assert len(keys) == 1  # one logical call, one key, on every attempt
    assert licenses_of(app, account.id) == 1
    got = client.get(f"/api/v1/licenses/{lic.license_key}", headers=transport.sent[0].headers)
    assert got.status_code == 200


def test_a_given_key_makes_two_calls_one(
    client: TestClient, app: FastAPI, account: AccountFixture
) -> None:
    sdk = Client(api_key=account.admin_key, base_url=SERVER, http_client=client)
    first = sdk.licenses.generate("c-1", idempotency_key="order-42")
    again = sdk.licenses.generate("c-1", idempotency_key="order-42")
    other = sdk.licenses.generate("c-1")  # a new call, a new key: a new license
    assert again.license_key == first.license_key != other.license_key
    assert licenses_of(app, account.id) == 2
