"""The audit trail joins the isolation matrix: GET /api/v2/audit has no id in its path, so
the id matrix (test_tenant_matrix.py) cannot reach it; here each intruder of the matrix
(the other account, the other mode) reads its own trail after account A's changes, and
finds none of A's objects. (GET /api/v1/licenses/{license_key}/events is in the id matrix.)
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import MakeAccount, bearer
from tests.isolation.test_tenant_matrix import INTRUSIONS, make_api_key, make_license, tenants


def _trail_ids(client: TestClient, key: str) -> set[str]:
    answer = client.get("/api/v2/audit", params={"limit": 200}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]["events"]
    return {e["object_id"] for e in events} | {e["license_key"] for e in events}


def test_no_intruder_sees_the_owners_audit_events(
    client: TestClient, make_account: MakeAccount
) -> None:
    people = tenants(client, make_account)
    failures = []
    for owner, owner_mode, intruder, intruder_mode in INTRUSIONS:
        owner_key = people[owner].key(owner_mode)
        lic = make_license(client, owner_key)["id"]
        client.post(f"/api/v1/licenses/{lic}/suspend", headers=bearer(owner_key))
        made_key = make_api_key(client, owner_key)["id"]
        assert {lic, made_key} <= _trail_ids(client, owner_key)
        seen = _trail_ids(client, people[intruder].key(intruder_mode))
        if lic in seen:
            failures.append(f"{intruder}-{intruder_mode} sees {owner}-{owner_mode}'s license")
        # The live admin manages every key of its account, test-mode ones included.
        manages = owner == intruder and intruder_mode == "live"
        if made_key in seen and not manages:
            failures.append(f"{intruder}-{intruder_mode} sees {owner}-{owner_mode}'s key")
    assert not failures, "\n".join(failures)
