"""#18 item 2: the OpenAPI document tells the truth, for every operation.

Walks the whole document: no 422 (the app never answers one), a summary and a description
everywhere, every error response in the one `Error` schema, and each status where the
operation can answer it (401/429 on every authenticated operation, 403 where scopes are
required, 404 where an object is named, 413 where a body is read, 409/503 only where the
service can raise them). Fields with a fixed vocabulary are enums. A toy route added the way
a new domain adds one gets its errors declared without any list to update.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, FastAPI, Header, Request
from fastapi.testclient import TestClient

from quantumlock.app import DOMAINS, create_app
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import AppError, Conflict
from quantumlock.settings import Settings
from quantumlock.web.install import Infra
from quantumlock.web.openapi import may_raise
from quantumlock.web.security import require

ERROR_REF = "#/components/schemas/Error"
# The services that raise Conflict / draw entropy (QuantumUnavailable), read from the code.
CONFLICTS = {
    "POST /api/v2/keys/{key_id}/rotate",
    "PATCH /api/v2/keys/{key_id}",
    "POST /api/v1/licenses/generate",
    "POST /api/v1/licenses/{license_key}/revoke",
    "POST /api/v1/licenses/{license_key}/suspend",
    "POST /api/v1/licenses/{license_key}/reinstate",
    "POST /api/v1/licenses/{license_key}/renew",
    "POST /api/v1/quantum/crypto/key-exchange",
    "POST /api/v1/quantum/crypto/encrypt",
    "POST /api/v1/quantum/crypto/decrypt",
    "POST /api/v1/quantum/crypto/sign",
    "PATCH /api/v2/users/{user_id}",
    "DELETE /api/v2/users/{user_id}",
}
DRAWS_ENTROPY = {
    "POST /api/v1/licenses/generate",
    "POST /api/v1/quantum/entropy",
    "POST /api/v1/quantum/keys",
    "POST /api/v1/quantum/rsa",
    "POST /api/v1/quantum/crypto/encrypt",
    "POST /api/v1/quantum/crypto/sign",
    "POST /api/v1/quantum/crypto/key-exchange",
}
READINESS = {"GET /health", "GET /health/ready"}
# The OAuth 2.0 / OIDC provider's routes answer OAuth's errors (RFC 6749 §5.2, RFC 6750 §3),
# not the API's: their 4xx bodies are the OAuthError schema, and their statuses are the RFCs'
# (401 invalid_client without an API key scheme). The middleware's 413 and 500 stay ours.
OAUTH_ERROR_REF = "#/components/schemas/OAuthError"
OAUTH_STATUSES = {
    "POST /oauth/token": {200, 400, 401, 413, 429, 500},
    "POST /oauth/revoke": {200, 400, 401, 413, 429, 500},
    "POST /oauth/introspect": {200, 400, 401, 413, 429, 500},
    "GET /oauth/userinfo": {200, 401, 403, 500},
    "POST /oauth/userinfo": {200, 401, 403, 413, 500},
    "GET /oauth/jwks": {200, 500},
    "GET /.well-known/openid-configuration": {200, 500},
    "GET /.well-known/oauth-authorization-server": {200, 500},
}


def is_oauth(name: str) -> bool:
    return name.split(" ", 1)[1].startswith(("/oauth/", "/.well-known/"))


# Property names whose values come from a fixed vocabulary, wherever they appear.
ENUM_FIELDS = {
    "type",
    "mode",
    "status",
    "scopes",
    "algorithm",
    "alg",
    "security_level",
    "plan",
    "code",
    "encoding",
}


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def idempotent(operation: dict[str, Any]) -> bool:
    return any(
        p["in"] == "header" and p["name"].lower() == "idempotency-key"
        for p in operation.get("parameters", [])
    )


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(s) for s in operation["responses"]}


def test_every_operation_has_a_summary_a_description_and_no_422(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for name, operation in operations(document).items():
        assert operation.get("summary", "").strip(), name
        assert len(operation.get("description", "").strip()) > 20, name
        assert "422" not in operation["responses"], name


def test_every_error_response_is_the_error_schema_with_its_codes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code", "timestamp", "request_id"}
    known_codes = set(error["properties"]["code"]["enum"])
    own_models = set()
    for name, operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            if is_oauth(name) and int(status) not in (413, 500):
                assert schema["$ref"] == OAUTH_ERROR_REF, (name, status)
                continue
            if schema["$ref"] != ERROR_REF:
                own_models.add(f"{name} {status}")
                continue
            codes = response["x-error-codes"]
            assert codes and set(codes) <= known_codes, (name, status)
            assert all(code in response["description"] for code in codes), (name, status)
    # The only error body of another shape: readiness answers 503 with its own report.
    assert own_models == {f"{name} 503" for name in READINESS}


def test_each_status_is_declared_exactly_where_it_can_happen(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {name for name in operations(document) if is_oauth(name)} == set(OAUTH_STATUSES)
    for name, operation in operations(document).items():
        method, path = name.split(" ", 1)
        got = statuses(operation)
        if is_oauth(name):
            assert got == OAUTH_STATUSES[name], name
            continue
        authenticated = "security" in operation
        assert (401 in got) == authenticated, name
        assert (429 in got) == authenticated, name
        if authenticated:
            assert "Retry-After" in operation["responses"]["429"]["headers"], name
        assert (403 in got) == bool(operation.get("x-required-scopes")), name
        if "{" in path:
            assert 404 in got, name
        assert (413 in got) == (method in {"POST", "PUT", "PATCH", "DELETE"}), name
        assert (409 in got) == (name in CONFLICTS or idempotent(operation)), name
        assert (503 in got) == (name in DRAWS_ENTROPY | READINESS), name
        if not operation.get("parameters") and "requestBody" not in operation:
            assert 400 not in got, name
        assert 500 in got, name


def test_a_route_added_later_gets_its_errors_without_a_list(settings: Settings) -> None:
    """The declaration is derived from the route: its auth dependency, scopes, parameters,
    method and an Idempotency-Key header; `may_raise` adds what its service raises."""
    router = APIRouter(prefix="/api/v1/toys")

    @router.post("/{toy_id}/wind", responses=may_raise(Conflict))
    def wind(
        request: Request,
        toy_id: str,
        turns: int = Body(embed=True),
        key: str | None = Header(None, alias="Idempotency-Key"),
        principal: object = require(Scope.LICENSES_WRITE),
    ) -> dict[str, str]:
        """Wind a toy up."""
        return {}

    @router.get("/count")
    def count(request: Request, principal: object = require()) -> dict[str, int]:
        """How many toys."""
        return {}

    @router.delete("/{toy_id}", status_code=204, responses={409: {"description": "Wound up"}})
    def scrap(request: Request, toy_id: str, principal: object = require(Scope.ADMIN)) -> None:
        """Scrap a toy (FastAPI's plain `responses=` form)."""

    class Toys:
        def install(self, infra: Infra) -> None:
            infra.include_router(router)

    app: FastAPI = create_app(settings, (*DOMAINS, Toys()))
    ops = operations(app.openapi())
    assert statuses(ops["POST /api/v1/toys/{toy_id}/wind"]) == {
        200, 400, 401, 403, 404, 409, 413, 429, 500
    }  # fmt: skip
    # Its own Conflict, and the two answers of its Idempotency-Key.
    assert set(ops["POST /api/v1/toys/{toy_id}/wind"]["responses"]["409"]["x-error-codes"]) == {
        "CONFLICT",
        "IDEMPOTENCY_KEY_REUSED",
        "IDEMPOTENCY_KEY_IN_USE",
    }
    assert statuses(ops["GET /api/v1/toys/count"]) == {200, 401, 429, 500}
    scrap_409 = ops["DELETE /api/v1/toys/{toy_id}"]["responses"]["409"]
    assert scrap_409["x-error-codes"] == ["CONFLICT"]
    assert scrap_409["content"]["application/json"]["schema"]["$ref"] == ERROR_REF


def _is_enum(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if "enum" in schema or "const" in schema:
        return True
    if "$ref" in schema:
        return _is_enum(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    if schema.get("type") == "array":
        return _is_enum(schema["items"], schemas)
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return bool(options) and all(_is_enum(s, schemas) for s in options)


def test_fixed_vocabularies_are_enums(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    checked = 0
    for model, schema in schemas.items():
        if model == "FieldError":  # pydantic's error `type`: an open set
            continue
        for field, prop in schema.get("properties", {}).items():
            if field in ENUM_FIELDS:
                assert _is_enum(prop, schemas), f"{model}.{field}: {prop}"
                checked += 1
    for name, operation in operations(document).items():
        for parameter in operation.get("parameters", []):
            if parameter["name"] in ENUM_FIELDS:
                assert _is_enum(parameter["schema"], schemas), (name, parameter["name"])
    assert checked > 30
    assert set(schemas["Error"]["properties"]["reason"]["enum"]) == {"rate_limit", "monthly_quota"}
    scopes = schemas["CreateKeyIn"]["properties"]["scopes"]
    assert _is_enum(scopes, schemas)
    assert {"admin", "licenses:validate"} <= set(schemas["Scope"]["enum"])
    assert set(schemas["Plan"]["enum"]) == {"free", "startup", "business", "enterprise"}


def test_the_error_codes_are_every_code_the_app_has(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    enum = set(document["components"]["schemas"]["Error"]["properties"]["code"]["enum"])
    family: list[type[AppError]] = [AppError]
    while family:
        cls = family.pop()
        assert cls.code in enum, cls
        family.extend(cls.__subclasses__())
