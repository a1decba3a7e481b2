"""The hot routes parse their JSON bodies themselves (quantumlock.web.body): same errors and
the same OpenAPI request bodies as the routes that declare `body: Model`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.test_auth_api import assert_error
from tests.conftest import AccountFixture, bearer

HOT_ROUTES = {
    "/api/v1/licenses/validate": "ValidateIn",
    "/api/v1/quantum/entropy": "EntropyIn",
    "/api/v1/quantum/crypto/encrypt": "EncryptIn",
    "/api/v1/quantum/crypto/decrypt": "DecryptIn",
}


@pytest.mark.parametrize("path", sorted(HOT_ROUTES))
@pytest.mark.parametrize("raw", [b"", b'{"bits": ', b"not json", b"\xff\xfe"])
def test_malformed_json_is_400(
    client: TestClient, account: AccountFixture, path: str, raw: bytes
) -> None:
    resp = client.post(
        path, content=raw, headers={**bearer(account.admin_key), "content-type": "application/json"}
    )
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert body["detail"] == "Request body is not valid JSON."
    assert body["errors"][0]["type"] == "json_invalid"
    assert body["errors"][0]["loc"][0] == "body"


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/licenses/validate", {"license_key": 5, "end_customer_id": "c"}, "license_key"),
        ("/api/v1/licenses/validate", {"end_customer_id": "c"}, "license_key"),
        ("/api/v1/quantum/entropy", {"bits": 0}, "bits"),
        ("/api/v1/quantum/entropy", {"bits": 8, "colour": "red"}, "colour"),
        ("/api/v1/quantum/crypto/encrypt", {"plaintext": ["a"]}, "plaintext"),
        ("/api/v1/quantum/crypto/decrypt", {"ciphertext": "AA=="}, "key_id"),
    ],
)
def test_invalid_fields_are_400_with_their_location(
    client: TestClient, account: AccountFixture, path: str, payload: object, field: str
) -> None:
    resp = client.post(path, json=payload, headers=bearer(account.admin_key))
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert ["body", field] in [err["loc"][:2] for err in body["errors"]], body
    assert body["detail"].startswith(field + ":")
    for err in body["errors"]:
        assert set(err) == {"loc", "msg", "type"}  # no "input": nothing is echoed


@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_a_body_that_is_not_an_object_is_400(
    client: TestClient, account: AccountFixture, payload: object
) -> None:
    for path in HOT_ROUTES:
        resp = client.post(path, json=payload, headers=bearer(account.admin_key))
        assert_error(resp, 400, "VALIDATION_ERROR")


def test_authentication_comes_before_the_body(client: TestClient) -> None:
    for path in HOT_ROUTES:
        assert_error(client.post(path, content=b"not json"), 401, "UNAUTHORIZED")


def test_openapi_documents_the_request_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, model in HOT_ROUTES.items():
        request_body = schema["paths"][path]["post"]["requestBody"]
        ref = request_body["content"]["application/json"]["schema"]["$ref"]
        assert request_body["required"] is True
        assert ref == f"#/components/schemas/{model}"
        assert components[model]["type"] == "object"
        assert components[model]["properties"]
    # Every reference, nested definitions (enums, sub-models) included, resolves.
    for ref in _refs(schema):
        assert ref.removeprefix("#/components/schemas/") in components, ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []
