"""Idempotency-Key across nodes: one license and one quota unit, whichever nodes the tries hit."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from itertools import cycle

import httpx
import pytest

from qcos import Client
from tests.cluster.conftest import Cluster, Node

pytestmark = [pytest.mark.xdist_group("cluster"), pytest.mark.postgres]

BODY = {"end_customer_id": "cust-1", "features": ["pro"]}


class BalancerDroppingFirstAnswer(httpx.BaseTransport):
    """A load balancer over the nodes, round-robin, that loses the first answer on its way
    back (the node acted; the client saw a reset connection)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.ports = cycle(n.port for n in nodes)
        self.http = httpx.HTTPTransport()
        self.sent: list[tuple[int, httpx.Request]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = next(self.ports)
        request.url = request.url.copy_with(port=port)
        self.sent.append((port, request))
        response = self.http.handle_request(request)
        if len(self.sent) == 1:
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.http.close()


def used(cluster: Cluster, account: str) -> int:
    rows = cluster.sql("SELECT coalesce(sum(used), 0) FROM license_usage WHERE account_id = %s",
                       account)  # fmt: skip
    value = rows[0][0]
    assert isinstance(value, int)
    return value


def licenses(cluster: Cluster, account: str) -> list[str]:
    rows = cluster.sql("SELECT license_key FROM licenses WHERE account_id = %s", account)
    return [str(r[0]) for r in rows]


def test_an_sdk_generate_retried_on_another_node_makes_one_license_and_one_quota_unit(
    cluster: Cluster,
) -> None:
    account, key = cluster.create_account()
    cluster.set_limits(account, "--licenses-per-month", "10")
    balancer = BalancerDroppingFirstAnswer(cluster.nodes[:2])
    with httpx.Client(transport=balancer, timeout=30) as http:
        sdk = Client(api_key=key, base_url=cluster.nodes[0].base_url, http_client=http)
        lic = sdk.licenses.generate("cust-1", features=["pro"])
    (first_port, first), (second_port, second) = balancer.sent
    assert first_port != second_port  # the retry went to the other node
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert licenses(cluster, account) == [lic.license_key]
    assert used(cluster, account) == 1


def test_the_same_key_on_every_node_at_once_makes_one_license(cluster: Cluster) -> None:
    account, key = cluster.create_account()
    cluster.set_limits(account, "--licenses-per-month", "10")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}

    async def burst() -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=n.base_url, timeout=30) for n in cluster.nodes]
        try:
            return list(
                await asyncio.gather(
                    *(
                        clients[i % len(clients)].post(
                            "/api/v1/licenses/generate", headers=headers, json=BODY
                        )
                        for i in range(30)
                    )
                )
            )
        finally:
            for client in clients:
                await client.aclose()

    responses = asyncio.run(burst())
    codes = Counter(
        r.json()["code"] if r.status_code == 409 else str(r.status_code) for r in responses
    )
    assert set(codes) <= {"201", "IDEMPOTENCY_KEY_IN_USE"}, codes
    made = {r.json()["license_key"] for r in responses if r.status_code == 201}
    assert len(made) == 1
    # Once the first answer is stored, every node replays it.
    for node in cluster.nodes:
        again = httpx.post(
            node.base_url + "/api/v1/licenses/generate", headers=headers, json=BODY, timeout=30
        )
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json()["license_key"] in made
    assert licenses(cluster, account) == sorted(made)
    assert used(cluster, account) == 1
