"""Idempotency keys in the tenant-isolation matrix: a key is per account and mode.

For every operation that takes `Idempotency-Key` (read from the OpenAPI document, so a new
one joins by itself), account A first uses a key; then B's keys (live on live, test on
test) and A's key of the other mode send the same key with the same request. None may get
A's stored answer (`Idempotent-Replayed`) or be refused for A's key (409 IDEMPOTENCY_*): an
id route answers 404 as before, a creating route makes the intruder's own object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import MakeAccount, bearer
from tests.isolation.test_tenant_matrix import (
    INTRUSIONS,
    LIVE_MANAGES_TEST,
    MODELESS,
    PATH_BODIES,
    PATH_KINDS,
    id_prefix,
    tenants,
)

# Bodies of the idempotent operations that name no object in their path (a callable: a new
# body for each intrusion, shared by A's request and the intruder's).
CREATE_BODIES: dict[str, dict[str, Any] | Callable[[], dict[str, Any]]] = {
    "POST /api/v1/licenses/generate": {"end_customer_id": "c-1", "features": ["pro"]},
    "POST /api/v2/keys": {"name": "idem"},
    "POST /api/v1/quantum/keys": {"algorithm": "AES-256-GCM"},
    "POST /api/v1/quantum/rsa": {"bits": 2048},
    "POST /api/v1/quantum/crypto/key-exchange": {},
    "POST /api/v2/service-accounts": {"name": "idem", "scopes": ["account:read"]},
    "POST /api/v2/oauth-clients": {"name": "idem", "redirect_uris": ["https://idem.example/cb"]},
    "POST /api/v2/users": lambda: {
        "email": f"idem-{uuid.uuid4().hex[:10]}@example.com",
        "role": "viewer",
    },
}
# Creating routes whose object is unique beyond the account: the intruder's own create of the
# same body is refused as taken (409 CONFLICT), never answered with A's stored answer.
UNIQUE_BEYOND_ACCOUNT = {"/api/v2/users"}
LIVE_ONLY_CREATES = {"/api/v2/users"}


def idempotent_operations(app: FastAPI) -> list[str]:
    return sorted(
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if operation.get("x-idempotent")
    )


def test_every_idempotent_operation_is_in_the_matrix(app: FastAPI) -> None:
    operations = idempotent_operations(app)
    assert "POST /api/v1/licenses/generate" in operations
    missing = [
        op
        for op in operations
        if op not in CREATE_BODIES and ("{" not in op or id_prefix(op[5:]) not in PATH_KINDS)
    ]
    assert not missing, f"idempotent operations without an isolation case: {missing}"


def expected(path: str, status: int, code: str, mode: str = "live") -> bool:
    """An id route: 404 on A's object, as without a key; a creating route: its own success
    (a test key creating a user: refused, users are made with live credentials)."""
    if mode == "test" and path in LIVE_ONLY_CREATES:
        return (status, code) == (403, "INSUFFICIENT_SCOPE")
    if "{" in path:
        return (status, code) == (404, "NOT_FOUND")
    if path in UNIQUE_BEYOND_ACCOUNT and (status, code) == (409, "CONFLICT"):
        return True
    return 200 <= status < 300


def test_another_tenant_or_mode_never_meets_a_key_of_a(
    app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    failures = []
    for name in idempotent_operations(app):
        method, path = name.split(" ", 1)
        people = tenants(client, make_account)
        for owner, owner_mode, intruder, intruder_mode in INTRUSIONS:
            idem_key = f"{name}:{owner_mode}:{intruder}-{intruder_mode}"
            owner_key = people[owner].key(owner_mode)
            intruder_key = people[intruder].key(intruder_mode)
            if "{" in path:
                prefix = id_prefix(path)
                if owner == intruder and intruder_mode == "live" and prefix in LIVE_MANAGES_TEST:
                    continue
                if prefix in MODELESS and (owner == intruder or owner_mode == "test"):
                    continue  # users: made with live credentials, of no mode
                obj = PATH_KINDS[prefix].create(client, owner_key)
                url = path.replace(prefix.rsplit("/", 1)[-1], obj["id"])
                body: Any = PATH_BODIES.get(name, None)
            else:
                made = CREATE_BODIES[name]
                url, body = path, made() if callable(made) else made
            headers = {"Idempotency-Key": idem_key}
            mine = client.request(method, url, json=body, headers=bearer(owner_key) | headers)
            theirs = client.request(method, url, json=body, headers=bearer(intruder_key) | headers)
            label = f"{name}: {intruder}-{intruder_mode} with {owner}-{owner_mode}'s key"
            code = theirs.json().get("code", "") if theirs.status_code >= 400 else ""
            if "idempotent-replayed" in theirs.headers or code.startswith("IDEMPOTENCY_"):
                failures.append(f"{label} met A's key: {theirs.status_code} {theirs.text[:200]}")
            elif not expected(path, theirs.status_code, code, intruder_mode):
                failures.append(f"{label} answered {theirs.status_code} {theirs.text[:200]}")
            elif mine.is_success and theirs.is_success and mine.content == theirs.content:
                failures.append(f"{label} got A's answer")
    assert not failures, "\n".join(failures)
