"""ClientService: the interface the provider and the bearer use, and creation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.clock import as_utc
from quantumlock.core.errors import Conflict, InsufficientScope, NotFound, ValidationFailed
from quantumlock.db.base import ChangeEvent
from quantumlock.identity.clients import service as service_module
from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import ClientSecret, IdentityEvent, OAuthClient, ServiceAccount
from quantumlock.identity.secrets import generate_client_secret, is_client_secret
from tests.conftest import AccountFixture, MakeAccount
from tests.identity_clients.conftest import Clock, MakeCaller


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


def test_scope_ceiling(
    service: ClientService, caller_for: MakeCaller, acct: AccountFixture
) -> None:
    narrow = caller_for(acct, scopes=frozenset({Scope.LICENSES_READ}))
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


class _NoDatabase:
    """A session that fails the test if anything reaches the database."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the database was reached ({name})")


def test_malformed_secret_is_refused_without_a_lookup(app: FastAPI) -> None:
    secret = generate_client_secret()
    typo = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    service = ClientService(cast(Session, _NoDatabase()), app.state.runtime.hasher)
    for bad in (typo, "secret_short", "", "qcos_live_" + "A" * 40, secret + "x", 5):
        assert not service.check_secret("service_" + "A" * 24, bad)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="database was reached"):
        service.check_secret("service_" + "A" * 24, secret)  # well formed: it looks it up


def test_revoke_now_and_disable(
    service: ClientService, caller: Principal, session: Session
) -> None:
    issued = service.create_service_account(caller, name="ci", scopes=["account:read"])
    row, old = issued.row, issued.secret
    assert old is not None
    rotated = service.rotate_secret(caller, "service_account", row.id, grace_period=0)
    assert rotated.previous_expires_at is None
    assert not service.check_secret(row.id, old)
    assert service.check_secret(row.id, rotated.secret)
    assert _changes(session, row.id) == ["service_account"]  # the revocation is announced

    service.set_status(caller, "service_account", row.id, active=False, address="203.0.113.9")
    assert not service.is_active(row) and row.disabled_at is not None
    # The secret still checks: refusing a disabled one is `is_active`'s job, asked separately.
    assert service.check_secret(row.id, rotated.secret)
    service.set_status(caller, "service_account", row.id, active=False)  # twice: no-op
    service.set_status(caller, "service_account", row.id, active=True)
    assert service.is_active(row) and row.disabled_at is None
    assert _changes(session, row.id) == ["service_account"] * 3
    actions = [(e.action, e.address) for e in _events(session, row.id)]
    assert actions == [
        ("service_account.create", None),
        ("service_account.rotate_secret", None),
        ("service_account.disable", "203.0.113.9"),
        ("service_account.enable", None),
    ]
    for event in _events(session, row.id):
        assert event.actor_id == caller.key_id
        assert old not in str(event.detail) and rotated.secret not in str(event.detail)


def test_grace_is_bounded_and_never_extends(
    service: ClientService, caller: Principal, clock: Clock
) -> None:
    row = service.create_service_account(caller, name="ci", scopes=["account:read"]).row
    for bad in (-1, 7 * 86400 + 1):
        with pytest.raises(ValidationFailed, match="grace_period"):
            service.rotate_secret(caller, "service_account", row.id, grace_period=bad)
    first = service.rotate_secret(caller, "service_account", row.id, grace_period=60)
    second = service.rotate_secret(caller, "service_account", row.id, grace_period=3600)
    # The first rotation's old secret keeps its 60 s: a later, longer grace never extends it.
    assert first.previous_expires_at == clock.now + timedelta(seconds=60)
    assert second.previous_expires_at == clock.now + timedelta(seconds=3600)
    live = service.live_secrets([row])[row.id]
    assert [s.expires_at is None for s in live] == [True, False, False]
    assert len({_utc(s.expires_at) for s in live if s.expires_at}) == 2
    # Default: 24 hours.
    third = service.rotate_secret(caller, "service_account", row.id)
    assert third.previous_expires_at == clock.now + timedelta(hours=24)
    service.rotate_secret(caller, "service_account", row.id)
    with pytest.raises(Conflict, match="grace_period 0"):
        service.rotate_secret(caller, "service_account", row.id)  # 5 working already
    service.rotate_secret(caller, "service_account", row.id, grace_period=0)
    assert len(service.live_secrets([row])[row.id]) == 1


def test_clients_without_a_secret_cannot_rotate(service: ClientService, caller: Principal) -> None:
    public = service.create_oauth_client(
        caller, name="spa", kind="public", redirect_uris=["https://spa.example/cb"]
    ).row
    with pytest.raises(Conflict, match="has no secret"):
        service.rotate_secret(caller, "oauth_client", public.id)


def test_oauth_client_rules(service: ClientService, caller: Principal) -> None:
    cb = ["https://a.example/cb"]
    bad: list[tuple[dict[str, object], str]] = [
        ({"kind": "public", "token_endpoint_auth_method": "client_secret_basic"}, "must use none"),
        ({"token_endpoint_auth_method": "none"}, "confidential client uses"),
        ({"kind": "other"}, "kind"),
        ({"redirect_uris": []}, "needs at least one redirect URI"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks: private_key_jwt needs"),
        ({"jwks": {"keys": []}}, "only for private_key_jwt"),
        ({"mode": "sandbox"}, "mode"),
    ]
    for extra, problem in bad:
        args: dict[str, object] = {"redirect_uris": cb, **extra}
        with pytest.raises(ValidationFailed, match=problem):
            service.create_oauth_client(caller, name="x", **args)  # type: ignore[arg-type]
    m2m = service.create_oauth_client(
        caller, name="m2m", grant_types=["client_credentials"], scopes=["licenses:read"]
    ).row
    assert isinstance(m2m, OAuthClient) and m2m.redirect_uris == []
    with pytest.raises(ValidationFailed, match="redirect URI"):
        service.update_oauth_client(caller, m2m.id, grant_types=["authorization_code"])
    updated = service.update_oauth_client(
        caller, m2m.id, grant_types=["authorization_code"], redirect_uris=cb, name="web"
    )
    assert updated.grant_types == ["authorization_code"] and updated.name == "web"


def test_modes_follow_the_api_key_rules(
    service: ClientService, caller_for: MakeCaller, acct: AccountFixture
) -> None:
    live, test = caller_for(acct), caller_for(acct, test=True)
    made_by_test = service.create_service_account(test, name="t", scopes=["account:read"]).row
    assert made_by_test.mode == "test"
    with pytest.raises(InsufficientScope, match="test-mode key"):
        service.create_service_account(test, name="t", scopes=["account:read"], mode="live")
    sandbox = service.create_service_account(live, name="s", scopes=["account:read"], mode="test")
    live_one = service.create_service_account(live, name="l", scopes=["account:read"]).row
    assert sandbox.row.mode == "test"
    with pytest.raises(NotFound):
        service.visible(test, "service_account", live_one.id)
    assert service.visible(live, "service_account", made_by_test.id) is made_by_test
    assert {r.id for r in service.page(test, "service_account", cursor=None, limit=10).rows} == {
        made_by_test.id,
        sandbox.row.id,
    }
    assert len(service.page(live, "service_account", cursor=None, limit=10).rows) == 3
    # The other kind's id is not found through this kind.
    with pytest.raises(NotFound):
        service.visible(live, "oauth_client", live_one.id)


def test_other_accounts_are_not_found(
    service: ClientService, caller_for: MakeCaller, make_account: MakeAccount
) -> None:
    mine, theirs = caller_for(make_account()), caller_for(make_account(name="Other"))
    row = service.create_service_account(mine, name="a", scopes=["account:read"]).row
    for act in (
        lambda: service.visible(theirs, "service_account", row.id),
        lambda: service.rotate_secret(theirs, "service_account", row.id),
        lambda: service.set_status(theirs, "service_account", row.id, active=False),
        lambda: service.delete(theirs, "service_account", row.id),
        lambda: service.update_service_account(theirs, row.id, scopes=["admin"]),
    ):
        with pytest.raises(NotFound):
            act()
    with pytest.raises(ValidationFailed, match="cursor"):
        service.page(theirs, "service_account", cursor=row.id, limit=10)
    assert service.is_active(row) and row.scopes == ["account:read"]


def test_update_scopes_within_the_callers(
    service: ClientService, caller_for: MakeCaller, acct: AccountFixture, session: Session
) -> None:
    admin = caller_for(acct)
    narrow = caller_for(acct, scopes=frozenset({Scope.LICENSES_WRITE}))
    row = service.create_service_account(admin, name="a", scopes=["account:read"]).row
    with pytest.raises(InsufficientScope):
        service.update_service_account(narrow, row.id, scopes=["quantum:keys"])
    service.update_service_account(narrow, row.id, scopes=["licenses:read"])
    assert row.scopes == ["licenses:read"]
    assert _changes(session, row.id) == ["service_account"]
    service.update_service_account(narrow, row.id, name="renamed")  # no scope change
    assert _changes(session, row.id) == ["service_account"]


def test_delete_takes_the_secrets(
    service: ClientService, caller: Principal, session: Session
) -> None:
    issued = service.create_oauth_client(caller, name="a", redirect_uris=["https://a.example/"])
    assert issued.secret is not None
    service.delete(caller, "oauth_client", issued.row.id)
    assert service.find(issued.row.id) is None
    assert not service.check_secret(issued.row.id, issued.secret)
    left = session.scalars(select(ClientSecret).where(ClientSecret.owner_id == issued.row.id))
    assert left.all() == []


def test_account_limit(
    service: ClientService, caller: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "MAX_SERVICE_ACCOUNTS", 2)
    for n in range(2):
        service.create_service_account(caller, name=f"n{n}", scopes=["account:read"])
    with pytest.raises(Conflict, match="2 service accounts"):
        service.create_service_account(caller, name="more", scopes=["account:read"])


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _changes(session: Session, ref: str) -> list[str]:
    session.flush()
    rows = session.scalars(select(ChangeEvent.kind).where(ChangeEvent.ref == ref))
    return list(rows)


def _events(session: Session, object_id: str) -> list[IdentityEvent]:
    session.flush()
    query = select(IdentityEvent).where(IdentityEvent.object_id == object_id)
    return list(session.scalars(query.order_by(IdentityEvent.id)))


def test_names_are_bounded(service: ClientService, caller: Principal) -> None:
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(ValidationFailed, match="name"):
            service.create_service_account(caller, name=bad, scopes=["account:read"])
        with pytest.raises(ValidationFailed, match="name"):
            service.create_oauth_client(caller, name=bad, redirect_uris=["https://a.example/"])
    row = service.create_service_account(caller, name="x" * 100, scopes=["account:read"]).row
    with pytest.raises(ValidationFailed, match="name"):
        service.update_service_account(caller, row.id, name=" ")


def test_id_token_alg_is_es256_or_rs256(service: ClientService, caller: Principal) -> None:
    uris = ["https://a.example/"]
    with pytest.raises(ValidationFailed, match="id_token_signed_response_alg"):
        service.create_oauth_client(caller, name="x", redirect_uris=uris,
                                    id_token_signed_response_alg="HS256")  # fmt: skip
    row = service.create_oauth_client(caller, name="x", redirect_uris=uris).row
    assert isinstance(row, OAuthClient) and row.id_token_signed_response_alg == "ES256"
    with pytest.raises(ValidationFailed, match="id_token_signed_response_alg"):
        service.update_oauth_client(caller, row.id, id_token_signed_response_alg="PS256")
    assert row.id_token_signed_response_alg == "ES256"
    service.update_oauth_client(caller, row.id, id_token_signed_response_alg="RS256")
    assert row.id_token_signed_response_alg == "RS256"
