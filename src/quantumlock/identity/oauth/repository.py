"""All SQL of the provider: codes, grants, refresh tokens, revoked access tokens, consents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.identity.models import (
    OAuthAuthorizationCode,
    OAuthConsent,
    OAuthGrant,
    OAuthRefreshToken,
    OAuthRevokedToken,
)


class OAuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # -- codes
    def code(self, code_hash: bytes) -> OAuthAuthorizationCode | None:
        return self.session.get(OAuthAuthorizationCode, code_hash)

    def mark_code_used(self, code_hash: bytes, grant_id: str, now: datetime) -> bool:
        """Atomically the first use: False when another request used it first."""
        result = self.session.execute(
            update(OAuthAuthorizationCode)
            .where(
                OAuthAuthorizationCode.code_hash == code_hash,
                OAuthAuthorizationCode.used_at.is_(None),
            )
            .values(used_at=now, grant_id=grant_id)
        )
        return bool(getattr(result, "rowcount", 0))

    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        query = select(OAuthAuthorizationCode.code_hash).where(
            OAuthAuthorizationCode.client_id == client_id, OAuthAuthorizationCode.nonce == nonce
        )
        return self.session.scalars(query.limit(1)).first() is not None

    # -- grants and refresh tokens
    def grant(self, grant_id: str) -> OAuthGrant | None:
        return self.session.get(OAuthGrant, grant_id)

    def refresh(self, token_hash: bytes) -> OAuthRefreshToken | None:
        query = select(OAuthRefreshToken).where(OAuthRefreshToken.token_hash == token_hash)
        return self.session.scalars(query).first()

    def mark_refresh_used(self, token_id: int, now: datetime) -> bool:
        result = self.session.execute(
            update(OAuthRefreshToken)
            .where(OAuthRefreshToken.id == token_id, OAuthRefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def revoke_grant(self, grant_id: str, reason: str, now: datetime) -> bool:
        """Revoke the grant and every refresh token of it; False if it already was."""
        result = self.session.execute(
            update(OAuthGrant)
            .where(OAuthGrant.id == grant_id, OAuthGrant.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        self.session.execute(
            update(OAuthRefreshToken)
            .where(OAuthRefreshToken.grant_id == grant_id, OAuthRefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        self.session.expire_all()  # rows loaded before now carry the old state
        return bool(getattr(result, "rowcount", 0))

    # -- revoked access tokens (and used client-assertion ids)
    def is_revoked(self, jti: str) -> bool:
        return self.session.get(OAuthRevokedToken, jti) is not None

    def add_revoked(self, jti: str, account_id: str, now: datetime, expires_at: datetime) -> bool:
        """False when `jti` is already there (a savepoint keeps the caller's transaction)."""
        try:
            with self.session.begin_nested():
                self.session.add(
                    OAuthRevokedToken(
                        jti=jti, account_id=account_id, revoked_at=now, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- consents
    def consent(self, user_id: str, client_id: str) -> OAuthConsent | None:
        return self.session.get(OAuthConsent, (user_id, client_id))
