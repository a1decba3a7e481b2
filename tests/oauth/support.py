"""Rows the provider reads (clients, service accounts, users), made straight in the
database: the provider's tests do not depend on the management APIs of the other parts."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from quantumlock.core.clock import utcnow
from quantumlock.core.ids import new_id
from quantumlock.identity.models import ClientSecret, OAuthClient, ServiceAccount, User
from quantumlock.identity.passwords import hash_password
from quantumlock.identity.secrets import display_prefix, generate_client_secret

REDIRECT = "https://rp.example/callback"
OIDC = ["openid", "profile", "email", "offline_access"]


@dataclass(frozen=True)
class Registered:
    id: str
    secret: str | None
    account_id: str

    def basic(self) -> dict[str, str]:
        raw = f"{self.id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _secret(session: Any, owner_id: str, account_id: str) -> str:
    secret = generate_client_secret()
    session.add(
        ClientSecret(
            id=new_id("csec", 20),
            owner_id=owner_id,
            account_id=account_id,
            secret_hash=session.info["hasher"].digest(secret),
            prefix=display_prefix(secret),
            created_at=utcnow(),
        )
    )
    return secret


def make_client(
    app: FastAPI,
    account_id: str,
    *,
    kind: str = "confidential",
    grant_types: list[str] | None = None,
    scopes: list[str] | None = None,
    auth_method: str | None = None,
    jwks: dict[str, Any] | None = None,
    mode: str = "live",
    redirect_uris: list[str] | None = None,
    id_token_alg: str | None = None,
) -> Registered:
    runtime = app.state.runtime
    method = auth_method or ("none" if kind == "public" else "client_secret_basic")
    with runtime.unit_of_work() as session:
        session.info["hasher"] = runtime.hasher
        now = utcnow()
        client = OAuthClient(
            id=new_id("client", 24),
            account_id=account_id,
            mode=mode,
            name="Test RP",
            kind=kind,
            redirect_uris=redirect_uris or [REDIRECT],
            grant_types=grant_types or ["authorization_code", "refresh_token"],
            scopes=scopes if scopes is not None else ["licenses:read", "account:read", *OIDC],
            token_endpoint_auth_method=method,
            jwks=jwks,
            created_at=now,
            **({"id_token_signed_response_alg": id_token_alg} if id_token_alg else {}),
            updated_at=now,
        )
        session.add(client)
        session.flush()
        secret = None
        if kind == "confidential" and method != "private_key_jwt":
            secret = _secret(session, client.id, account_id)
        return Registered(client.id, secret, account_id)


def make_service_account(
    app: FastAPI, account_id: str, scopes: list[str], *, mode: str = "live"
) -> Registered:
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        session.info["hasher"] = runtime.hasher
        now = utcnow()
        row = ServiceAccount(
            id=new_id("service", 24),
            account_id=account_id,
            mode=mode,
            name="robot",
            scopes=scopes,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return Registered(row.id, _secret(session, row.id, account_id), account_id)


def make_user(
    app: FastAPI,
    account_id: str,
    *,
    role: str = "member",
    password: str = "correct horse 42!",  # noqa: S107 - a test user's
) -> tuple[str, str, str]:
    """(user id, email, password)."""
    runtime = app.state.runtime
    user_id = new_id("usr", 20)
    email = f"{user_id.lower()}@example.com"
    with runtime.unit_of_work() as session:
        now = utcnow()
        session.add(
            User(
                id=user_id,
                account_id=account_id,
                email=email,
                name="Ada Lovelace",
                role=role,
                password_hash=hash_password(password),
                created_at=now,
                updated_at=now,
            )
        )
    return user_id, email, password
