"""The tenant-isolation matrix, generated from the app's routes.

Every route with an id in its path, and every operation whose body names an object
(`key_id`, `session_id`), is tried with the wrong key on account A's object: account B's key
(live on live, test on test) and A's own key of the other mode. Each answers 404, and A's
object, read by A before and after, is unchanged. A route whose id has no factory here fails
the test: a new id route cannot be added without joining the matrix.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.conftest import MakeAccount, bearer
from tests.saml_config.material import pem, rsa_cert
from tests.tokens import Issuer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Tenant:
    live: str
    test: str
    # The same tenant's OAuth 2.0 access tokens (an admin service account per mode), for the
    # matrix's token variant (#19): a token must reach no further than a key.
    tokens: dict[str, str] | None = None

    def key(self, mode: str) -> str:
        return self.live if mode == "live" else self.test

    def credential(self, mode: str, kind: str) -> str:
        if kind == "access_token":
            assert self.tokens is not None
            return self.tokens[mode]
        return self.key(mode)


@dataclass(frozen=True)
class Kind:
    """How to make account A's object (returns its id and any data the bodies need) and
    how A reads its state (None: nothing to read)."""

    create: Callable[[TestClient, str], dict[str, Any]]
    read: Callable[[TestClient, str, dict[str, Any]], Any]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def make_license(client: TestClient, key: str) -> dict[str, Any]:
    body = {"end_customer_id": "victim-1", "features": ["pro"], "valid_days": 30}
    made = _ok(client.post("/api/v1/licenses/generate", json=body, headers=bearer(key)), 201)
    return {"id": made["license_key"]}


def read_license(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    got = _ok(client.get(f"/api/v1/licenses/{obj['id']}", headers=bearer(key)))
    check = {"license_key": obj["id"], "end_customer_id": "victim-1"}
    valid = _ok(client.post("/api/v1/licenses/validate", json=check, headers=bearer(key)))
    return got, {k: v for k, v in valid.items() if k not in {"validated_at", "timestamp"}}


def make_api_key(client: TestClient, key: str) -> dict[str, Any]:
    mode = "test" if key.startswith("qcos_test_") else "live"
    made = client.post("/api/v2/keys", json={"name": "victim", "type": mode}, headers=bearer(key))
    return {"id": _ok(made, 201)["data"]["id"]}


def read_api_key(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    listed = _ok(client.get("/api/v2/keys", headers=bearer(key)))["data"]
    items = listed["keys"]
    found = [k for k in items if k["id"] == obj["id"]]
    return [{k: v for k, v in item.items() if k != "last_used_at"} for item in found]


def make_keystore_key(client: TestClient, key: str) -> dict[str, Any]:
    made = client.post(
        "/api/v1/quantum/keys", json={"algorithm": "AES-256-GCM"}, headers=bearer(key)
    )
    key_id = _ok(made, 201)["key_id"]
    sealed = client.post(
        "/api/v1/quantum/crypto/encrypt",
        json={"plaintext": b64(b"A's secret"), "key_id": key_id},
        headers=bearer(key),
    )
    return {"id": key_id, "sealed": _ok(sealed)}


def read_keystore_key(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    got = _ok(client.get(f"/api/v1/quantum/keys/{obj['id']}", headers=bearer(key)))
    sealed = obj["sealed"]
    body = {k: sealed[k] for k in ("ciphertext", "iv", "tag")} | {"key_id": obj["id"]}
    opened = _ok(client.post("/api/v1/quantum/crypto/decrypt", json=body, headers=bearer(key)))
    assert base64.b64decode(opened["plaintext"]) == b"A's secret"
    return got


def make_signing_key(client: TestClient, key: str) -> dict[str, Any]:
    made = client.post("/api/v1/quantum/keys", json={"algorithm": "Ed25519"}, headers=bearer(key))
    key_id = _ok(made, 201)["key_id"]
    signed = client.post(
        "/api/v1/quantum/crypto/sign",
        json={"message": b64(b"hello"), "key_id": key_id},
        headers=bearer(key),
    )
    return {"id": key_id, "signed": _ok(signed)}


def read_keystore_only(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    return _ok(client.get(f"/api/v1/quantum/keys/{obj['id']}", headers=bearer(key)))


def make_session(client: TestClient, key: str) -> dict[str, Any]:
    started = client.post("/api/v1/quantum/crypto/key-exchange", json={}, headers=bearer(key))
    return {"id": _ok(started)["session_id"]}


def _peer() -> str:
    public = X25519PrivateKey.generate().public_key()
    return b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def read_nothing(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    return None


def _mode_of(key: str) -> str:
    return "test" if key.startswith("qcos_test_") else "live"


def make_service_account(client: TestClient, key: str) -> dict[str, Any]:
    body = {"name": "victim", "scopes": ["licenses:read"], "mode": _mode_of(key)}
    made = _ok(client.post("/api/v2/service-accounts", json=body, headers=bearer(key)), 201)
    return {"id": made["data"]["client_id"]}


def read_service_account(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    url = f"/api/v2/service-accounts/{obj['id']}"
    return _ok(client.get(url, headers=bearer(key)))["data"]


def make_oauth_client(client: TestClient, key: str) -> dict[str, Any]:
    body = {
        "name": "victim",
        "redirect_uris": ["https://victim.example/cb"],
        "scopes": ["licenses:read", "openid"],
        "mode": _mode_of(key),
    }
    made = _ok(client.post("/api/v2/oauth-clients", json=body, headers=bearer(key)), 201)
    return {"id": made["data"]["client_id"]}


def read_oauth_client(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    return _ok(client.get(f"/api/v2/oauth-clients/{obj['id']}", headers=bearer(key)))["data"]


def make_user(client: TestClient, key: str) -> dict[str, Any]:
    body = {"email": f"victim-{uuid.uuid4().hex[:10]}@example.com", "role": "member"}
    return {
        "id": _ok(client.post("/api/v2/users", json=body, headers=bearer(key)), 201)["data"]["id"]
    }


def read_user(client: TestClient, key: str, obj: dict[str, Any]) -> Any:
    got = _ok(client.get(f"/api/v2/users/{obj['id']}", headers=bearer(key)))["data"]
    sessions = _ok(client.get(f"/api/v2/users/{obj['id']}/sessions", headers=bearer(key)))
    return got, sessions


# Path ids: the route's path up to its first id -> the kind of object it names.
PATH_KINDS: dict[str, Kind] = {
    "/api/v1/licenses/{license_key}": Kind(make_license, read_license),
    "/api/v2/keys/{key_id}": Kind(make_api_key, read_api_key),
    "/api/v1/quantum/keys/{key_id}": Kind(make_keystore_key, read_keystore_key),
    "/api/v2/service-accounts/{client_id}": Kind(make_service_account, read_service_account),
    "/api/v2/oauth-clients/{client_id}": Kind(make_oauth_client, read_oauth_client),
    "/api/v2/users/{user_id}": Kind(make_user, read_user),
}
# Bodies for the id routes that need one to get past validation.
PATH_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/licenses/{license_key}/renew": {"valid_days": 90},
    "POST /api/v2/keys/{key_id}/rotate": {"grace_period": "0s"},
    "PATCH /api/v2/keys/{key_id}": {"name": "hijacked", "scopes": ["account:read"], "metadata": {}},
    "POST /api/v2/service-accounts/{client_id}/rotate-secret": {"grace_period": 0},
    "PATCH /api/v2/service-accounts/{client_id}": {"name": "hijacked", "scopes": ["admin"]},
    "POST /api/v2/oauth-clients/{client_id}/rotate-secret": {"grace_period": 0},
    "PATCH /api/v2/oauth-clients/{client_id}": {
        "name": "hijacked",
        "redirect_uris": ["https://evil.example/cb"],
        "scopes": ["admin", "openid"],
    },
    "PATCH /api/v2/users/{user_id}": {"name": "hijacked", "role": "viewer"},
    "POST /api/v2/users/{user_id}/totp/confirm": {"totp_code": "123456"},
}
# Operations whose body names an object: the kind and the body that names A's object.
BODY_KINDS: dict[str, tuple[Kind, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "POST /api/v1/quantum/crypto/encrypt": (
        Kind(make_keystore_key, read_keystore_key),
        lambda o: {"plaintext": b64(b"x"), "key_id": o["id"]},
    ),
    "POST /api/v1/quantum/crypto/decrypt": (
        Kind(make_keystore_key, read_keystore_key),
        lambda o: {k: o["sealed"][k] for k in ("ciphertext", "iv", "tag")} | {"key_id": o["id"]},
    ),
    "POST /api/v1/quantum/crypto/sign": (
        Kind(make_signing_key, read_keystore_only),
        lambda o: {"message": b64(b"forged"), "key_id": o["id"]},
    ),
    "POST /api/v1/quantum/crypto/verify": (
        Kind(make_signing_key, read_keystore_only),
        lambda o: {
            "message": b64(b"hello"),
            "signature": o["signed"]["signature"],
            "quantum_nonce": o["signed"].get("quantum_nonce"),
            "key_id": o["id"],
            "algorithm": "Ed25519",
        },
    ),
    "POST /api/v1/quantum/crypto/key-exchange": (
        Kind(make_session, read_nothing),
        lambda o: {"session_id": o["id"], "peer_public_key": _peer()},
    ),
}
BODY_IDS = {"key_id", "session_id"}


def id_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every API route, documented or not, with a parameter in its path."""
    out: list[tuple[str, str]] = []
    # FastAPI >= 0.16x nests included routers; iter_route_contexts flattens them.
    contexts = getattr(routing, "iter_route_contexts", None)
    route: Any  # an APIRoute, or on FastAPI >= 0.16x a route context wrapping one
    for route in contexts(app.routes) if contexts else app.routes:
        original = getattr(route, "original_route", route)
        # Only the API: the HTML pages' path parameters are one-time secrets
        # (/login/set-password/{token}), no tenant's object ids.
        api = route.path_format.startswith("/api/")
        if isinstance(original, APIRoute) and "{" in route.path_format and api:
            out.extend((method, route.path_format) for method in sorted(route.methods or ()))
    return out


def body_id_operations(app: FastAPI) -> list[str]:
    """Operations whose documented request body has an object id field."""
    document = app.openapi()
    schemas = document["components"]["schemas"]
    out = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                if BODY_IDS & set(schemas.get(name, {}).get("properties", {})):
                    out.append(f"{method.upper()} {path}")
    return out


def id_prefix(path: str) -> str:
    return path[: path.index("}") + 1]


# (whose object, object mode, intruder, intruder mode)
INTRUSIONS = [
    ("A", "live", "B", "live"),
    ("A", "test", "B", "test"),
    ("A", "live", "A", "test"),
    ("A", "test", "A", "live"),
]


# The live admin key manages all the account's API keys, test-mode ones included (it creates
# them: POST /api/v2/keys with type "test"); a test key never reaches a live one.
LIVE_MANAGES_TEST = {
    "/api/v2/keys/{key_id}",
    # OAuth clients and service accounts follow the API keys' rule (a live admin key may
    # create test-mode ones with "mode": "test").
    "/api/v2/service-accounts/{client_id}",
    "/api/v2/oauth-clients/{client_id}",
}
# Users belong to the account, not to a mode: a test key reads them but cannot change them,
# so only live-made ones are intruded on (by another account's keys of either mode).
MODELESS = {"/api/v2/users/{user_id}"}


def tenants(
    client: TestClient, make_account: MakeAccount, issuer: Issuer | None = None
) -> dict[str, Tenant]:
    out = {}
    for name in "AB":
        account = make_account(plan="enterprise", name=f"Tenant {name}")
        made = client.post(
            "/api/v2/keys",
            json={"name": "sandbox admin", "type": "test", "scopes": ["admin"]},
            headers=bearer(account.admin_key),
        )
        tokens = None
        if issuer is not None:
            tokens = {m: issuer.service_token(account.id, mode=m)[0] for m in ("live", "test")}
        out[name] = Tenant(account.admin_key, _ok(made, 201)["data"]["key"], tokens)
    return out


def send(client: TestClient, method: str, url: str, key: str, body: Any) -> Any:
    if method in {"GET", "DELETE", "HEAD"}:
        return client.request(method, url, headers=bearer(key))
    return client.request(method, url, json=body, headers=bearer(key))


def test_every_id_route_has_a_factory(app: FastAPI) -> None:
    operations = id_operations(app)
    assert operations, "no route with an id: the generator is broken"
    missing = sorted({id_prefix(p) for _, p in operations} - set(PATH_KINDS))
    assert not missing, f"id routes without an isolation factory (add to PATH_KINDS): {missing}"
    unknown = sorted(set(body_id_operations(app)) - set(BODY_KINDS))
    assert not unknown, f"operations naming an object in their body (add to BODY_KINDS): {unknown}"


@pytest.mark.parametrize("credential", ["api_key", "access_token"])
def test_the_wrong_key_on_an_object_answers_404_and_changes_nothing(
    credential: str, app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    """With the intruder's API key, and again with its OAuth access token (#19)."""
    runtime = app.state.runtime
    issuer = Issuer(runtime.sessions, runtime.sealer) if credential == "access_token" else None
    cases: list[tuple[str, Kind, Callable[[dict[str, Any]], tuple[str, Any]]]] = []
    for method, path in id_operations(app):
        kind = PATH_KINDS.get(id_prefix(path))
        assert kind is not None, f"{method} {path} has no isolation factory"
        body = PATH_BODIES.get(f"{method} {path}", {})

        def path_target(obj: dict[str, Any], path: str = path, body: Any = body) -> tuple[str, Any]:
            return path.replace(id_prefix(path).rsplit("/", 1)[-1], obj["id"]), body

        cases.append((f"{method} {path}", kind, path_target))
    for name, (kind, make_body) in BODY_KINDS.items():
        path = name.split(" ", 1)[1]

        def body_target(
            obj: dict[str, Any],
            p: str = path,
            mb: Callable[[dict[str, Any]], dict[str, Any]] = make_body,
        ) -> tuple[str, Any]:
            return p, mb(obj)

        cases.append((name, kind, body_target))

    failures = []
    for name, kind, target in cases:
        method = name.split(" ", 1)[0]
        # Fresh tenants per operation: the test mode's small fixed limit (burst 50) is per
        # account and mode, and the matrix would drain one account's.
        people = tenants(client, make_account, issuer)
        for owner, owner_mode, intruder, intruder_mode in INTRUSIONS:
            path = name.split(" ", 1)[1]
            spans = owner == intruder and intruder_mode == "live"
            if spans and "{" in path and id_prefix(path) in LIVE_MANAGES_TEST:
                continue
            if owner == intruder and "{" in path and id_prefix(path) in MODELESS:
                continue
            if owner_mode == "test" and "{" in path and id_prefix(path) in MODELESS:
                continue  # users are made and changed with live credentials only
            owner_key = people[owner].key(owner_mode)
            obj = kind.create(client, owner_key)
            before = kind.read(client, owner_key, obj)
            url, body = target(obj)
            intruding = people[intruder].credential(intruder_mode, credential)
            answer = send(client, method, url, intruding, body)
            label = f"{name}: {intruder}-{intruder_mode} on {owner}-{owner_mode}'s object"
            if answer.status_code != 404 or answer.json().get("code") != "NOT_FOUND":
                failures.append(f"{label} answered {answer.status_code} {answer.text[:200]}")
            after = kind.read(client, owner_key, obj)
            if after != before:
                failures.append(f"{label} changed A's state: {before!r} -> {after!r}")
            if kind.create is make_session:
                # The session is still A's to complete.
                done = client.post(
                    "/api/v1/quantum/crypto/key-exchange",
                    json={"session_id": obj["id"], "peer_public_key": _peer()},
                    headers=bearer(owner_key),
                )
                if done.status_code != 200:
                    failures.append(f"{label}: A's session no longer completes: {done.text}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(PATH_KINDS))
def test_a_factory_makes_an_object_its_owner_can_read(
    name: str, client: TestClient, make_account: Any
) -> None:
    """The matrix's own footing: the owner reads its object (so a 404 means isolation)."""
    people = tenants(client, make_account)
    kind = PATH_KINDS[name]
    obj = kind.create(client, people["A"].live)
    assert kind.read(client, people["A"].live, obj) is not None


# -- account singletons ---------------------------------------------------------------------
# Routes without an id that address the account's one object (the SAML connection): the
# intruder's own account is addressed, so reading or changing answers 404 (it has none) and a
# PUT makes the intruder's own object; A's is never seen nor changed.


def make_saml_connection(client: TestClient, key: str) -> dict[str, Any]:
    made: dict[str, Any] = _ok(
        client.put(SINGLETON_SAML, json=saml_body(), headers=bearer(key)), 201
    )["data"]
    return made


def read_saml_connection(client: TestClient, key: str) -> Any:
    return _ok(client.get(SINGLETON_SAML, headers=bearer(key)))["data"]


def saml_body() -> dict[str, Any]:
    return {
        "idp_entity_id": "https://idp.example.com/hijack",
        "idp_sso_url": "https://evil.example/sso",
        "idp_certificates": [pem(rsa_cert())],
        "sso_required": True,
    }


SINGLETON_SAML = "/api/v2/sso/saml"
SINGLETONS = {SINGLETON_SAML}


def test_every_singleton_route_is_in_the_matrix(app: FastAPI) -> None:
    """The account-singleton prefixes: a new route under one must be handled below."""
    seen = {
        (method, path)
        for path, item in app.openapi()["paths"].items()
        if any(path.startswith(prefix) for prefix in ("/api/v2/sso",))
        for method in item
    }
    assert {path for _, path in seen} <= SINGLETONS
    assert {m.upper() for m, _ in seen} == {"GET", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("credential", ["api_key", "access_token"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_another_tenant_never_reaches_the_account_singleton(
    credential: str, method: str, app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    runtime = app.state.runtime
    issuer = Issuer(runtime.sessions, runtime.sealer) if credential == "access_token" else None
    people = tenants(client, make_account, issuer)
    mine = make_saml_connection(client, people["A"].live)
    for mode in ("live", "test"):
        intruding = people["B"].credential(mode, credential)
        body = {"PUT": saml_body(), "PATCH": {"sso_required": False}}.get(method)
        answer = send(client, method, SINGLETON_SAML, intruding, body)
        label = f"{method} as B-{mode}"
        if method == "PUT" and mode == "live":
            assert answer.status_code == 201, (label, answer.text)
            theirs = answer.json()["data"]
            assert theirs["account_id"] != mine["account_id"] and theirs["id"] != mine["id"]
            assert send(client, "DELETE", SINGLETON_SAML, intruding, None).status_code == 204
        elif method == "PUT":
            assert answer.status_code == 403, (label, answer.text)  # test mode changes nothing
        else:
            assert answer.status_code == 404, (label, answer.text)
            assert answer.json()["code"] == "NOT_FOUND"
        assert read_saml_connection(client, people["A"].live) == mine, label
