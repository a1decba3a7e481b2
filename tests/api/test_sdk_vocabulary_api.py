"""The SDK's Literal types (#18) are the server's vocabularies: every enum in the OpenAPI
document's request bodies and query parameters is a Literal with the same values on the SDK
parameters that send it (both twins), and `qcos.Scope` is the server's scope list."""

from __future__ import annotations

import typing
from typing import Any

from fastapi import FastAPI

import qcos
from quantumlock.auth.scopes import Scope


def _enum(schema: dict[str, Any]) -> set[Any] | None:
    if "enum" in schema:
        return set(schema["enum"])
    for option in schema.get("anyOf", []):
        values = _enum(option)
        if values is not None:
            return values
    return None


def server_enums(document: dict[str, Any]) -> dict[str, set[Any]]:
    """'Schema.field' (request bodies) and 'METHOD /path?param' (query) -> allowed values."""
    out: dict[str, set[Any]] = {}
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            values = _enum(prop)
            if values is not None and name.endswith("In"):
                out[f"{name}.{field}"] = values
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []):
                values = _enum(param.get("schema", {}))
                if values is not None:
                    out[f"{method.upper()} {path}?{param['name']}"] = values
    return out


# Each server enum -> the SDK parameters that send it. A new server enum fails the test until
# it is mapped here (or listed in NOT_IN_THE_SDK with a reason).
SDK_PARAMS: dict[str, list[str]] = {
    "CreateKeyIn.type": ["Keys.create.type"],
    "KeyCreateIn.algorithm": ["Quantum.create_key.algorithm"],
    "KeyCreateIn.source": ["Quantum.create_key.source"],
    "RsaCreateIn.bits": ["Quantum.rsa.bits"],
    "RsaCreateIn.source": ["Quantum.rsa.source"],
    "EncryptIn.algorithm": ["Quantum.encrypt.algorithm"],
    "DecryptIn.algorithm": ["Quantum.decrypt.algorithm"],
    "SignIn.algorithm": ["Quantum.sign.algorithm"],
    "VerifyIn.algorithm": ["Quantum.verify.algorithm"],
    "KeyExchangeIn.algorithm": ["Quantum.key_exchange.algorithm"],
    "EntropyIn.encoding": ["Quantum.entropy.encoding"],
    "EntropyIn.source": ["Quantum.entropy.source"],
    "GET /api/v1/licenses?status": ["Licenses.list.status", "Licenses.iter.status"],
    "CreateOAuthClientIn.mode": ["OAuthClients.create.mode"],
    "CreateOAuthClientIn.token_endpoint_auth_method": [
        "OAuthClients.create.token_endpoint_auth_method"
    ],
    "CreateOAuthClientIn.id_token_signed_response_alg": [
        "OAuthClients.create.id_token_signed_response_alg"
    ],
    "UpdateOAuthClientIn.id_token_signed_response_alg": [
        "OAuthClients.update.id_token_signed_response_alg"
    ],
    "CreateServiceAccountIn.mode": ["ServiceAccounts.create.mode"],
    "CreateUserIn.role": ["Users.create.role"],
    "UpdateUserIn.role": ["Users.update.role"],
    "SamlConnectionIn.preset": ["Saml.configure.preset", "Saml.update.preset"],
    "SamlConnectionIn.default_role": ["Saml.configure.default_role", "Saml.update.default_role"],
}
NOT_IN_THE_SDK: dict[str, str] = {
    "CreateOAuthClientIn.kind": "the SDK's `oauth_clients.create(public=True)` sends it",
}


def _literal_values(annotation: Any) -> set[Any]:
    """The values of a Literal annotation, also inside `X | None` and `list[X]`."""
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    values: set[Any] = set()
    for arg in typing.get_args(annotation):
        if arg is not type(None):
            values |= _literal_values(arg)
    return values


def _parameter_hints(method: Any) -> dict[str, Any]:
    """A method's parameter annotations, with those of `**fields: Unpack[SomeTypedDict]`
    as if they were keyword parameters (what a caller passes)."""
    hints = typing.get_type_hints(method)
    for name, annotation in list(hints.items()):
        if typing.get_origin(annotation) is typing.Unpack:
            hints.pop(name)
            hints.update(typing.get_type_hints(typing.get_args(annotation)[0]))
    return hints


def sdk_literal(target: str) -> set[Any]:
    cls_name, method, param = target.split(".")
    out = set()
    for cls in (getattr(qcos, cls_name), getattr(qcos, "Async" + cls_name)):
        hints = _parameter_hints(getattr(cls, method))
        values = _literal_values(hints[param])
        assert values, f"{cls.__name__}.{method}({param}) is not a Literal: {hints[param]}"
        out.add(frozenset(values))
    assert len(out) == 1, f"the twins of {target} disagree"
    return set(out.pop())


def test_every_server_enum_is_a_matching_literal_in_the_sdk(app: FastAPI) -> None:
    enums = server_enums(app.openapi())
    assert enums, "no enum found: the OpenAPI walk is broken"
    unmapped = sorted(set(enums) - set(SDK_PARAMS) - set(NOT_IN_THE_SDK))
    assert not unmapped, f"server enums without an SDK Literal (map them in SDK_PARAMS): {unmapped}"
    for enum, targets in SDK_PARAMS.items():
        assert enum in enums, f"{enum} is no longer a server enum"
        for target in targets:
            assert sdk_literal(target) == enums[enum], target


def test_scopes_are_the_servers_scopes() -> None:
    server = {s.value for s in Scope}
    assert set(typing.get_args(qcos.Scope)) == server
    for target in ("Keys.create.scopes", "Keys.update.scopes"):
        assert sdk_literal(target) == server
