"""Fixtures for the clients part of identity: a service on a real database, callers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from quantumlock.auth.keys import KeyType, Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, expand
from quantumlock.auth.service import ApiKeyService
from quantumlock.core.clock import utcnow
from quantumlock.identity.clients.service import ClientService
from tests.conftest import AccountFixture, MakeAccount


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow())


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    with app.state.runtime.unit_of_work() as session:
        yield session


@pytest.fixture
def service(app: FastAPI, session: Session, clock: Clock) -> ClientService:
    return ClientService(session, app.state.runtime.hasher, clock=clock)


MakeCaller = Callable[..., Principal]


@pytest.fixture
def caller_for(app: FastAPI, session: Session) -> MakeCaller:
    """The principal of an account's admin key, or a narrower / test-mode variant of it."""

    def make(
        acct: AccountFixture, *, scopes: frozenset[Scope] | None = None, test: bool = False
    ) -> Principal:
        keys = ApiKeyService(session, app.state.runtime.hasher)
        resolved = keys.resolve(app.state.runtime.hasher.digest(acct.admin_key))
        assert resolved is not None
        base = resolved[1]
        granted = scopes if scopes is not None else base.granted_scopes
        return Principal(
            key_id=base.key_id,
            account_id=base.account_id,
            key_type=KeyType.TEST if test else base.key_type,
            mode=Mode.TEST if test else Mode.LIVE,
            granted_scopes=granted,
            scopes=expand(granted),
            expires_at=None,
            revoked_at=None,
            limits=base.limits,
        )

    return make


@pytest.fixture
def acct(make_account: MakeAccount) -> AccountFixture:
    return make_account()


@pytest.fixture
def caller(caller_for: MakeCaller, acct: AccountFixture) -> Principal:
    return caller_for(acct)
