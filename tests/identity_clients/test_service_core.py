"""ClientService: the interface the provider and the bearer use, and creation."""

from __future__ import annotations

import pytest

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import InsufficientScope, ValidationFailed
from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import OAuthClient, ServiceAccount
from quantumlock.identity.secrets import is_client_secret
from tests.identity_clients.conftest import Clock


def test_service_account_secret_checks_and_lookup(
    service: ClientService, caller: Principal
) -> None:
    issued = service.create_service_account(caller, name="ci", scopes=["licenses:write"])
    row, secret = issued.row, issued.secret
    assert secret is not None and is_client_secret(secret)
    assert row.id.startswith("service_") and len(row.id) == len("service_") + 24
    assert service.find(row.id) is row
    assert service.check_secret(row.id, secret)
    assert not service.check_secret(row.id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not service.check_secret("service_" + "x" * 24, secret)
    assert service.is_active(row)
    assert service.allowed_scopes(row) == {
        Scope.LICENSES_WRITE,
        Scope.LICENSES_READ,
        Scope.LICENSES_VALIDATE,
    }


def test_oauth_client_creation_defaults(service: ClientService, caller: Principal) -> None:
    issued = service.create_oauth_client(
        caller,
        name="portal",
        redirect_uris=["https://app.example/cb"],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["licenses:read", "openid", "email"],
    )
    row = issued.row
    assert isinstance(row, OAuthClient)
    assert row.id.startswith("client_") and row.token_endpoint_auth_method == "client_secret_basic"
    assert issued.secret is not None and service.check_secret(row.id, issued.secret)
    assert service.find(row.id) is row
    assert service.allowed_scopes(row) == {Scope.LICENSES_READ}
    assert service.oidc_scopes(row) == {"openid", "email"}
    assert row.mode == "live"


def test_public_client_has_no_secret(service: ClientService, caller: Principal) -> None:
    issued = service.create_oauth_client(
        caller, name="spa", kind="public", redirect_uris=["http://127.0.0.1:8765/cb"]
    )
    assert issued.secret is None
    assert issued.row.token_endpoint_auth_method == "none"  # type: ignore[union-attr]


def test_scope_ceiling(service: ClientService, caller_for: object, acct: object) -> None:
    narrow = caller_for(acct, scopes=frozenset({Scope.LICENSES_READ}))  # type: ignore[operator]
    with pytest.raises(InsufficientScope):
        service.create_service_account(narrow, name="x", scopes=["licenses:write"])
    with pytest.raises(InsufficientScope):
        service.create_oauth_client(
            narrow, name="x", redirect_uris=["https://a.example/cb"], scopes=["admin"]
        )
    with pytest.raises(ValidationFailed):
        service.create_service_account(narrow, name="x", scopes=["openid"])


def test_grace_rotation(service: ClientService, caller: Principal, clock: Clock) -> None:
    issued = service.create_service_account(caller, name="ci", scopes=["account:read"])
    assert isinstance(issued.row, ServiceAccount) and issued.secret
    rotated = service.rotate_secret(caller, "service_account", issued.row.id, grace_period=60)
    assert service.check_secret(issued.row.id, issued.secret)
    assert service.check_secret(issued.row.id, rotated.secret)
    clock.advance(61)
    assert not service.check_secret(issued.row.id, issued.secret)
    assert service.check_secret(issued.row.id, rotated.secret)
