"""Access tokens over three nodes (#19, bearer): a token works on every node; what refuses it
(its service account disabled, its jti revoked) reaches every node within 1 s; a signing key
rotated elsewhere verifies at once.

The changes are written straight to the database (as the users / clients / oauth services
will, with their change rows): the nodes learn of them from their change-feed poll alone,
with no Redis nudge from this process, which is the slow path of the guarantee."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quantumlock.bootstrap import make_sealer
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.identity.models import ServiceAccount
from quantumlock.settings import Settings
from tests.cluster.conftest import Cluster, Node
from tests.conftest import MASTER_KEY
from tests.tokens import Issuer

pytestmark = [pytest.mark.xdist_group("cluster"), pytest.mark.postgres]

ME = "/api/v2/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def issuer(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("issuer")),
        database_url=cluster.database_url,
        master_key=MASTER_KEY,
    )
    engine = make_engine(cluster.database_url)
    try:
        yield Issuer(make_session_factory(engine), make_sealer(settings))
    finally:
        engine.dispose()


def refused_within(nodes: list[Node], token: str, detail: str) -> dict[str, float]:
    """Seconds until each node refuses `token` with `detail` (polling, at most 5 s)."""
    started = time.monotonic()
    refused_after: dict[str, float] = {}
    while len(refused_after) < len(nodes) and time.monotonic() - started < 5:
        for node in nodes:
            if node.name in refused_after:
                continue
            resp = httpx.get(node.base_url + ME, headers=bearer(token))
            if resp.status_code == 401:
                assert (resp.json()["code"], resp.json()["detail"]) == ("UNAUTHORIZED", detail)
                refused_after[node.name] = time.monotonic() - started
            else:
                assert resp.status_code == 200, resp.text
        time.sleep(0.01)
    assert set(refused_after) == {n.name for n in nodes}, refused_after
    return refused_after


def test_a_disabled_service_account_s_token_is_refused_on_every_node_within_1_s(
    cluster: Cluster, issuer: Issuer
) -> None:
    account, _ = cluster.create_account()
    token, claims = issuer.service_token(account, scopes=["licenses:read", "licenses:write"])
    for node in cluster.nodes:  # every node has verified it and cached its state
        resp = httpx.get(node.base_url + ME, headers=bearer(token))
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["key_id"] == claims.client_id
    made = httpx.post(
        cluster.nodes[1].base_url + "/api/v1/licenses/generate",
        json={"end_customer_id": "c-1"},
        headers=bearer(token),
    )
    assert made.status_code == 201, made.text
    issuer.set_status(ServiceAccount, claims.client_id, "disabled", "service_account")
    after = refused_within(cluster.nodes[1:], token, "Access token revoked.")
    assert max(after.values()) < 1.0, after


def test_a_revoked_jti_is_refused_on_every_node_within_1_s(
    cluster: Cluster, issuer: Issuer
) -> None:
    account, _ = cluster.create_account()
    token, claims = issuer.service_token(account)
    other = issuer.mint(account, claims.client_id)[0]
    for node in cluster.nodes:
        assert httpx.get(node.base_url + ME, headers=bearer(token)).status_code == 200
    issuer.revoke_token(claims)
    after = refused_within(cluster.nodes, token, "Access token revoked.")
    assert max(after.values()) < 1.0, after
    for node in cluster.nodes:  # the same client's other token is untouched
        assert httpx.get(node.base_url + ME, headers=bearer(other)).status_code == 200


def test_a_key_rotated_elsewhere_verifies_at_once_and_old_tokens_still_do(
    cluster: Cluster, issuer: Issuer
) -> None:
    account, _ = cluster.create_account()
    token, claims = issuer.service_token(account)
    for node in cluster.nodes:
        assert httpx.get(node.base_url + ME, headers=bearer(token)).status_code == 200
    new_key = issuer.rotate()
    fresh = issuer.mint(account, claims.client_id, key=new_key)[0]
    for node in cluster.nodes:  # no waiting: an unknown kid makes a node reload its keys
        assert httpx.get(node.base_url + ME, headers=bearer(fresh)).status_code == 200
        assert httpx.get(node.base_url + ME, headers=bearer(token)).status_code == 200
