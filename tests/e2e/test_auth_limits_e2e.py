"""Issue #16 findings 2, 3 and 12 through the real server (`quantumlock serve`) and the SDK.

The server trusts X-Forwarded-For from every peer (QL_FORWARDED_ALLOW_IPS='*'); the test
client plays the load balancer and appends the "real" client address on the right.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MASTER_KEY, bearer
from tests.e2e.conftest import Server, init_and_serve, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("e2e-auth")
    env = {**os.environ, "QL_DATA_DIR": str(tmp / "data"), "QL_MASTER_KEY": MASTER_KEY}
    env.pop("QL_DATABASE_URL", None)
    env["QL_FORWARDED_ALLOW_IPS"] = "*"
    srv = init_and_serve(tmp, env)
    try:
        yield srv
    finally:
        stop_server(srv)


def new_account(server: Server, name: str, plan: str = "business") -> dict[str, str]:
    created = server.cli_json(
        "accounts", "create", "--name", name, "--email", f"{name}@example.com", "--plan", plan
    )
    assert isinstance(created, dict)
    return created


def test_a_wildcard_does_not_let_clients_choose_their_address(server: Server) -> None:
    """Finding 12: with '*', uvicorn believed the left-most entry, written by the client, so
    a client varying it was never stopped by the brute-force guard."""
    bad = {"Authorization": "Bearer qcos_live_" + "x" * 38}
    with server.client() as http:
        statuses = [
            http.get(
                "/api/v2/me", headers={**bad, "X-Forwarded-For": f"6.6.6.{i}, 203.0.113.50"}
            ).status_code
            for i in range(40)
        ]
    assert statuses.count(401) == 30 and statuses.count(429) == 10
    assert "forwarded_allow_ips_wildcard" in server.log_path.read_text()


def test_the_guard_never_refuses_a_valid_key_on_the_real_server(server: Server) -> None:
    """Finding 3: a blocked address (a NAT) still serves its valid keys, cached or not."""
    account = new_account(server, "nat")
    nat = {"X-Forwarded-For": "203.0.113.60"}
    with server.client() as http:
        admin = {**bearer(account["api_key"]), **nat}
        assert http.get("/api/v2/me", headers=admin).status_code == 200  # cached now
        fresh = http.post(
            "/api/v2/keys", headers=admin, json={"name": "fresh", "scopes": ["account:read"]}
        ).json()["data"]["key"]
        bad = {"Authorization": "Bearer qcos_live_" + "y" * 38, **nat}
        statuses = [http.get("/api/v2/me", headers=bad).status_code for _ in range(35)]
        assert statuses.count(429) == 5
        assert http.get("/api/v2/me", headers=admin).status_code == 200
        assert http.get("/api/v2/me", headers={**bearer(fresh), **nat}).status_code == 200
        assert http.get("/api/v2/me", headers=bad).status_code == 429


def test_a_shipped_validate_key_leaves_the_admin_keys_generate_answering_201(
    server: Server,
) -> None:
    """Finding 2: 1,100 validations with the shipped key made the admin's generate 429."""
    from qcos import Client, RateLimitError

    account = new_account(server, "vendor", plan="startup")  # /api/v1: 100/min, burst 100
    with Client(api_key=account["api_key"], base_url=server.base_url, max_retries=0) as admin:
        shipped_key = admin.keys.create("shipped", scopes=["licenses:validate"]).key
        issued = admin.licenses.generate("first@example.com")
        with Client(api_key=shipped_key, base_url=server.base_url, max_retries=0) as shipped:
            answered = refused = 0
            for _ in range(150):
                try:
                    shipped.licenses.validate(issued.license_key, "first@example.com")
                    answered += 1
                except RateLimitError:
                    refused += 1
        assert 50 <= answered < 60  # its own share: half the account's limit (+ refill)
        generated = admin.licenses.generate("second@example.com")
        assert generated.license_key.startswith("QLOCK")
