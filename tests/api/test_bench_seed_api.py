"""The bench's seeded licenses are real licenses to online validation: signed as the service
signs them (status and version included), so a change to the signed fields must keep the
seeder in step (it broke once, unnoticed, until `make bench` ran)."""

from __future__ import annotations

from bench.seed import seed
from fastapi.testclient import TestClient

from quantumlock.settings import Settings
from tests.conftest import MakeAccount, bearer


def test_seeded_licenses_validate(
    client: TestClient, settings: Settings, make_account: MakeAccount
) -> None:
    account = make_account()
    result = seed(settings, account_id=account.id, count=40, samples=5, progress=False)
    assert result.inserted == 40 and result.samples
    for sample in result.samples:
        answer = client.post(
            "/api/v1/licenses/validate",
            json={"license_key": sample.license_key, "end_customer_id": sample.end_customer_id},
            headers=bearer(account.admin_key),
        )
        assert answer.status_code == 200 and answer.json()["code"] == "VALID", answer.text
