"""Access tokens minted with the identity foundation, for tests of the bearer part.

Rows are written straight through the models (the users / clients parts' services may not
exist yet); every change a service would record is recorded here too (`record_change`), so
the change feed behaves as it will with the real services.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.clock import utcnow
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.identity.models import (
    OAuthClient,
    OAuthGrant,
    OAuthRevokedToken,
    OAuthSigningKey,
    ServiceAccount,
    User,
)
from quantumlock.identity.signing import PrivateKey, SigningKeyService
from quantumlock.identity.tokens import AccessClaims, encode_access_token, new_access_claims
from quantumlock.keyring.sealing import Sealer
from tests.secret_scan import REGISTRY

ISSUER = "http://testserver"


@dataclass
class Issuer:
    """Makes the rows a token needs and signs tokens, on one database."""

    sessions: sessionmaker[Session]
    sealer: Sealer

    def signing_key(self, alg: str = "ES256") -> PrivateKey:
        # A started app ensures its keys in the background too: one of the two makes them
        # (oauth_signing_keys.active_for is unique), the other reads them.
        with contextlib.suppress(IntegrityError), unit_of_work(self.sessions) as session:
            SigningKeyService(session, self.sealer).ensure()
        with self.sessions() as session:
            return SigningKeyService(session, self.sealer).material().active[alg]

    def rotate(self, alg: str = "ES256") -> PrivateKey:
        with unit_of_work(self.sessions) as session:
            SigningKeyService(session, self.sealer).rotate(alg)
        return self.signing_key(alg)

    def retire(self, kid: str) -> None:
        with unit_of_work(self.sessions) as session:
            row = session.get(OAuthSigningKey, kid)
            assert row is not None
            SigningKeyService(session, self.sealer).retire(row.created_at)

    def service_account(
        self, account_id: str, *, mode: str = "live", scopes: Sequence[str] = ("admin",)
    ) -> str:
        now = utcnow()
        row = ServiceAccount(
            id=new_id("service", 24), account_id=account_id, mode=mode, name="robot",
            scopes=list(scopes), status="active", created_at=now, updated_at=now,
        )  # fmt: skip
        with unit_of_work(self.sessions) as session:
            session.add(row)
        return row.id

    def oauth_client(
        self, account_id: str, *, mode: str = "live", scopes: Sequence[str] = ("admin",)
    ) -> str:
        now = utcnow()
        row = OAuthClient(
            id=new_id("client", 24), account_id=account_id, mode=mode, name="rp",
            kind="confidential", redirect_uris=["https://rp.example/cb"],
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
            scopes=[*scopes, "openid"], token_endpoint_auth_method="client_secret_basic",
            status="active", created_at=now, updated_at=now,
        )  # fmt: skip
        with unit_of_work(self.sessions) as session:
            session.add(row)
        return row.id

    def user(self, account_id: str, *, role: str = "admin") -> str:
        now = utcnow()
        row = User(
            id=new_id("usr", 24), account_id=account_id, email=f"{new_id('u', 10)}@t.example",
            role=role, status="active", created_at=now, updated_at=now,
        )  # fmt: skip
        with unit_of_work(self.sessions) as session:
            session.add(row)
        return row.id

    def grant(self, account_id: str, client_id: str, user_id: str, *, mode: str = "live") -> str:
        row = OAuthGrant(
            id=new_id("grt", 24), account_id=account_id, mode=mode, client_id=client_id,
            user_id=user_id, scope="admin", created_at=utcnow(),
        )  # fmt: skip
        with unit_of_work(self.sessions) as session:
            session.add(row)
        return row.id

    def mint(
        self,
        account_id: str,
        client_id: str,
        *,
        mode: str = "live",
        scopes: Sequence[str] = ("admin",),
        user_id: str | None = None,
        grant_id: str | None = None,
        now: int | None = None,
        key: PrivateKey | None = None,
    ) -> tuple[str, AccessClaims]:
        claims = new_access_claims(
            issuer=ISSUER, client_id=client_id, account_id=account_id, mode=mode,
            scope=tuple(scopes), user_id=user_id, grant_id=grant_id, now=now,
        )  # fmt: skip
        token = encode_access_token(claims, key or self.signing_key())
        REGISTRY.add(token)
        return token, claims

    def service_token(
        self, account_id: str, *, mode: str = "live", scopes: Sequence[str] = ("admin",)
    ) -> tuple[str, AccessClaims]:
        """A token of a new service account with `scopes` (its id: claims.client_id)."""
        sa = self.service_account(account_id, mode=mode, scopes=scopes)
        return self.mint(account_id, sa, mode=mode, scopes=scopes)

    # -- what the other parts' services will do, with the change each records -------------

    def set_status(self, model: type[ServiceAccount | OAuthClient | User], row_id: str,
                   status: str, kind: str) -> None:  # fmt: skip
        with unit_of_work(self.sessions) as session:
            row: Any = session.get(model, row_id)
            assert row is not None
            row.status = status
            record_change(session, kind, row_id)

    def set_role(self, user_id: str, role: str) -> None:
        with unit_of_work(self.sessions) as session:
            row = session.get(User, user_id)
            assert row is not None
            row.role = role
            record_change(session, "user", user_id)

    def revoke_token(self, claims: AccessClaims) -> None:
        from datetime import UTC, datetime

        with unit_of_work(self.sessions) as session:
            session.add(
                OAuthRevokedToken(
                    jti=claims.jti,
                    account_id=claims.account_id,
                    revoked_at=utcnow(),
                    expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
                )
            )
            record_change(session, "oauth_token", claims.jti)

    def revoke_grant(self, grant_id: str) -> None:
        with unit_of_work(self.sessions) as session:
            row = session.get(OAuthGrant, grant_id)
            assert row is not None
            row.revoked_at = utcnow()
            row.revoked_reason = "revoked"
            record_change(session, "oauth_grant", grant_id)
