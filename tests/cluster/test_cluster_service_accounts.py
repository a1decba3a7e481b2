"""A service account end to end over the cluster (#19 "Must show"): the SDK fetches its token
from /oauth/token on node A with client credentials; the token works on /api/v2/me and on
licenses on node B, limited to the account's scopes; disabled on node A, it is refused by
node B and C within 1 s."""

from __future__ import annotations

import time

import httpx
import pytest

from qcos import Client, PermissionDeniedError
from tests.cluster.conftest import Cluster

pytestmark = pytest.mark.xdist_group("cluster")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_service_account_token_across_nodes(cluster: Cluster) -> None:
    _, admin = cluster.create_account()
    a, b, c = cluster.nodes
    created = httpx.post(
        a.base_url + "/api/v2/service-accounts",
        headers=bearer(admin),
        json={"name": "billing-sync", "scopes": ["licenses:read", "licenses:write"]},
    )
    assert created.status_code == 201, created.text
    sa = created.json()["data"]
    assert sa["client_id"].startswith("service_") and sa["client_secret"].startswith("secret_")

    # The SDK on node B fetches and uses its own token.
    with Client(
        client_id=sa["client_id"], client_secret=sa["client_secret"], base_url=b.base_url
    ) as sdk:
        me = sdk.me()
        assert me.key_id == sa["client_id"]
        assert set(me.scopes) >= {"licenses:read", "licenses:write"}
        assert "admin" not in me.scopes
        made = sdk.licenses.generate("cust-sa")
        assert sdk.licenses.get(made.license_key).license_key == made.license_key
        with pytest.raises(PermissionDeniedError):
            sdk.keys.list()  # admin only

    # The same token, raw, on node C; then disabled on node A.
    token = httpx.post(
        a.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(sa["client_id"], sa["client_secret"]),
    )
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert token.json()["scope"].split() == ["licenses:read", "licenses:write"]
    for node in (b, c):
        assert httpx.get(node.base_url + "/api/v2/me", headers=bearer(access)).status_code == 200
    disabled = httpx.post(
        a.base_url + f"/api/v2/service-accounts/{sa['client_id']}/disable", headers=bearer(admin)
    )
    assert disabled.status_code == 200, disabled.text
    started = time.monotonic()
    refused_after: dict[str, float] = {}
    while len(refused_after) < 2 and time.monotonic() - started < 5:
        for node in (b, c):
            if node.name in refused_after:
                continue
            resp = httpx.get(node.base_url + "/api/v2/me", headers=bearer(access))
            if resp.status_code == 401:
                assert resp.json()["code"] == "UNAUTHORIZED"
                refused_after[node.name] = time.monotonic() - started
        time.sleep(0.01)
    assert set(refused_after) == {b.name, c.name}, refused_after
    assert max(refused_after.values()) < 1.0, refused_after
    # And no new token for it.
    again = httpx.post(
        b.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(sa["client_id"], sa["client_secret"]),
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_client", again.text
