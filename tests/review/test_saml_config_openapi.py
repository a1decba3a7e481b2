"""Review of #20 (configuration): the OpenAPI document of /api/v2/sso/saml.

The schemathesis fuzz (tests/fuzz) can only reach a successful PUT through an example: a
random string is never a certificate. The document must carry a body that is accepted as is,
and say what each route answers (PUT: 201 created, 200 replaced; 403 for a test-mode key or an
admin user; 404 only where it can happen)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture

SAML = "/api/v2/sso/saml"


def _operations(app: FastAPI) -> dict[str, Any]:
    ops: dict[str, Any] = app.openapi()["paths"][SAML]
    return ops


def _body_examples(app: FastAPI, method: str) -> list[dict[str, Any]]:
    doc = app.openapi()
    body = _operations(app)[method]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    examples: list[dict[str, Any]] = list(schema.get("examples", []))
    examples += [e["value"] for e in body.get("examples", {}).values()]
    return examples


def test_the_put_example_is_accepted_as_is(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    examples = _body_examples(app, "put")
    assert examples, "no request example: the fuzz never reaches a successful PUT"
    for example in examples:
        made = client.put(SAML, json=example, headers=account.headers)
        assert made.status_code in (200, 201), made.text
    patches = _body_examples(app, "patch")
    assert patches
    for example in patches:
        changed = client.patch(SAML, json=example, headers=account.headers)
        assert changed.status_code == 200, changed.text


def test_each_route_says_what_it_answers(app: FastAPI) -> None:
    ops = _operations(app)
    assert set(ops["put"]["responses"]) >= {"200", "201", "400", "401", "403", "413"}
    assert "Replaced" in ops["put"]["responses"]["200"]["description"]
    for method in ("put", "patch", "delete"):
        # The generated 403 says "lacks a scope"; the operation says when else it is 403.
        said = ops[method]["description"]
        assert "403" in said and "owner" in said and "test-mode" in said, (method, said)
    for method in ("get", "patch", "delete"):
        assert "404" in ops[method]["responses"]
    assert set(ops["delete"]["responses"]) >= {"204", "401", "403", "404"}
