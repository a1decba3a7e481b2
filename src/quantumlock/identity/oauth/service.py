"""The provider's rules, free of HTTP and of Authlib: codes, grants (token families), refresh
rotation with reuse detection, revocation, consent, scope arithmetic, audit.

Scopes in a token = requested ∩ the client's ∩ (the user's role | the service account's):
API scopes (quantumlock.auth.scopes) plus the OIDC scopes requested and allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from quantumlock.auth.scopes import Scope, sort_scopes
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.identity.events import IdentityEventType, record_event
from quantumlock.identity.models import (
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthConsent,
    OAuthGrant,
    OAuthRefreshToken,
    ServiceAccount,
    User,
)
from quantumlock.identity.oauth.directory import Directory
from quantumlock.identity.oauth.repository import OAuthRepository
from quantumlock.identity.secrets import generate_token
from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import Sealer

CHANGE_KIND_OAUTH_GRANT = "oauth_grant"
CHANGE_KIND_OAUTH_TOKEN = "oauth_token"  # noqa: S105 - a change kind
CODE_TTL = timedelta(seconds=60)
REFRESH_TTL = timedelta(days=30)
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
API_SCOPES = frozenset(s.value for s in Scope)
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": "Sign you in (your user id)",
    "profile": "Your name",
    "email": "Your email address",
    "offline_access": "Stay connected when you are away (a refresh token)",
    "admin": "Everything, including managing keys, users and clients",
    "account:read": "Read your account",
    "licenses:read": "Read licenses",
    "licenses:write": "Issue, revoke and renew licenses",
    "licenses:validate": "Validate licenses",
    "quantum:entropy": "Draw quantum-seeded entropy",
    "quantum:keys": "Manage keystore keys",
    "quantum:crypto": "Encrypt, decrypt, sign and verify",
    "optimize:read": "Read optimization jobs",
    "optimize:write": "Submit optimization jobs",
    "backends:read": "Read quantum backends",
    "evidence:read": "Read evidence bundles",
    "evidence:write": "Write evidence bundles",
}

Party = OAuthClient | ServiceAccount


def split_scope(scope: str | None) -> list[str]:
    return list(dict.fromkeys((scope or "").split()))


def join_scope(scopes: Iterable[str]) -> str:
    values = list(scopes)
    api = sort_scopes([s for s in values if s in API_SCOPES])
    return " ".join(api + [s for s in OIDC_SCOPES if s in values])


def holds(granted: frozenset[Scope], wanted: Iterable[str]) -> bool:
    """Every API scope in `wanted` is held (implied scopes count)."""
    return all(Scope(s) in granted for s in wanted if s in API_SCOPES)


@dataclass(frozen=True, slots=True)
class Audit:
    """Who is acting and from where, for the events a request records."""

    address: str | None


class OAuthService:
    def __init__(self, session: Session, hasher: KeyHasher, sealer: Sealer, audit: Audit) -> None:
        self.session = session
        self.hasher = hasher
        self.audit = audit
        self.repo = OAuthRepository(session)
        self.directory = Directory(session, hasher, sealer)

    # ------------------------------------------------------------------ scopes
    def client_api_scopes(self, party: Party) -> frozenset[Scope]:
        return self.directory.allowed_scopes(party)

    def client_allows(self, party: Party, scopes: Iterable[str]) -> bool:
        """Known scopes only, within the client's (OIDC ones as its `scopes` list them;
        offline_access only with the refresh_token grant type)."""
        granted = self.client_api_scopes(party)
        for scope in scopes:
            if scope in API_SCOPES:
                if Scope(scope) not in granted:
                    return False
            elif scope in OIDC_SCOPES:
                if scope not in self.directory.oidc_scopes(party):
                    return False
                grants = getattr(party, "grant_types", [])
                if scope == "offline_access" and "refresh_token" not in grants:
                    return False
            else:
                return False
        return True

    def user_scopes(self, user: User) -> frozenset[Scope]:
        return self.directory.scopes_of(user)

    def narrowed(self, scopes: Iterable[str], *limits: frozenset[Scope]) -> list[str]:
        """`scopes` without the API scopes some limit does not hold (a demoted user)."""
        out = []
        for scope in scopes:
            if scope in API_SCOPES and not all(Scope(scope) in limit for limit in limits):
                continue
            out.append(scope)
        return out

    def default_scope(self, party: Party, user: User | None) -> list[str]:
        """No `scope` asked: the client's own API scopes (those the user holds)."""
        stored = [s for s in getattr(party, "scopes", []) if s in API_SCOPES]
        if user is not None:
            stored = self.narrowed(stored, self.user_scopes(user))
        return sort_scopes(stored)

    # ------------------------------------------------------------------ codes
    def save_code(
        self,
        code: str,
        *,
        client: OAuthClient,
        user: User,
        redirect_uri: str,
        scope: str,
        nonce: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        auth_time: datetime,
    ) -> None:
        now = utcnow()
        self.repo.add(
            OAuthAuthorizationCode(
                code_hash=self.hasher.digest(code),
                account_id=client.account_id,
                client_id=client.id,
                user_id=user.id,
                redirect_uri=redirect_uri,
                scope=scope,
                nonce=nonce,
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                auth_time=auth_time,
                created_at=now,
                expires_at=now + CODE_TTL,
            )
        )

    def find_code(self, code: str, client_id: str) -> OAuthAuthorizationCode | None:
        """The code if it is this client's, unexpired and unused. A second use revokes the
        grant its first use made (RFC 6749 §10.5) and is recorded as token.code_reuse."""
        row = self.repo.code(self.hasher.digest(code))
        if row is None or row.client_id != client_id:
            return None
        if row.used_at is not None:
            if row.grant_id:
                self.revoke_grant_id(row.grant_id, "code_reuse")
            self.event("token.code_reuse", row.account_id, row.client_id, row.grant_id or "-")
            return None
        if as_utc(row.expires_at) <= utcnow():
            return None
        return row

    def use_code(self, row: OAuthAuthorizationCode, grant_id: str) -> bool:
        return self.repo.mark_code_used(row.code_hash, grant_id, utcnow())

    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        return self.repo.nonce_seen(client_id, nonce)

    # ------------------------------------------------------------------ grants
    def create_grant(
        self,
        party: Party,
        *,
        user_id: str | None,
        scope: str,
        nonce: str | None = None,
        auth_time: datetime | None = None,
    ) -> OAuthGrant:
        grant = OAuthGrant(
            id=new_id("grt", 24),
            account_id=party.account_id,
            mode=party.mode,
            client_id=party.id,
            user_id=user_id,
            scope=scope,
            nonce=nonce,
            auth_time=auth_time,
            created_at=utcnow(),
        )
        self.repo.add(grant)
        return grant

    def grant(self, grant_id: str) -> OAuthGrant | None:
        return self.repo.grant(grant_id)

    def revoke_grant_id(self, grant_id: str, reason: str) -> None:
        if self.repo.revoke_grant(grant_id, reason, utcnow()):
            # Bearer refuses the grant's access tokens on every node.
            record_change(self.session, CHANGE_KIND_OAUTH_GRANT, grant_id)

    def issue_refresh(self, grant: OAuthGrant) -> str:
        token = generate_token(32)
        now = utcnow()
        self.repo.add(
            OAuthRefreshToken(
                token_hash=self.hasher.digest(token),
                grant_id=grant.id,
                created_at=now,
                expires_at=now + REFRESH_TTL,
            )
        )
        return token

    def find_refresh(self, token: str) -> tuple[OAuthRefreshToken, OAuthGrant] | None:
        """An unexpired, unrevoked refresh token and its live grant. Presenting one already
        exchanged is reuse: the whole family is revoked (token.refresh_reuse)."""
        row = self.repo.refresh(self.hasher.digest(token))
        if row is None:
            return None
        grant = self.repo.grant(row.grant_id)
        if grant is None:
            return None
        if row.used_at is not None:
            self.refresh_reused(grant)
            return None
        if row.revoked_at is not None or grant.revoked_at is not None:
            return None
        if as_utc(row.expires_at) <= utcnow():
            return None
        return row, grant

    def refresh_family(self, token: str) -> tuple[OAuthRefreshToken, OAuthGrant] | None:
        """The refresh token and its grant, whatever their state (revocation and
        introspection judge it themselves; presenting it there is not a reuse)."""
        row = self.repo.refresh(self.hasher.digest(token))
        grant = self.repo.grant(row.grant_id) if row is not None else None
        return (row, grant) if row is not None and grant is not None else None

    @staticmethod
    def refresh_live(row: OAuthRefreshToken, grant: OAuthGrant) -> bool:
        return (
            row.used_at is None
            and row.revoked_at is None
            and grant.revoked_at is None
            and as_utc(row.expires_at) > utcnow()
        )

    def refresh_reused(self, grant: OAuthGrant) -> None:
        self.revoke_grant_id(grant.id, "refresh_reuse")
        self.event("token.refresh_reuse", grant.account_id, grant.client_id, grant.id,
                   mode=grant.mode, detail={"user_id": grant.user_id})  # fmt: skip

    def consume_refresh(self, row: OAuthRefreshToken) -> bool:
        return self.repo.mark_refresh_used(row.id, utcnow())

    # ------------------------------------------------------------------ revocation
    def revoke_access(self, jti: str, account_id: str, expires_at: int) -> None:
        when = datetime.fromtimestamp(expires_at, UTC)
        if self.repo.add_revoked(jti, account_id, utcnow(), when):
            record_change(self.session, CHANGE_KIND_OAUTH_TOKEN, jti)

    def is_access_revoked(self, jti: str) -> bool:
        return self.repo.is_revoked(jti)

    def holder_active(self, client_id: str, user_id: str | None) -> bool:
        """The token's client (or service account) and user, if any, are still active: what
        the API's bearer check demands, so introspection and userinfo agree with it."""
        party = self.directory.find(client_id)
        if party is None or not self.directory.is_active(party):
            return False
        user = self.directory.user(user_id) if user_id else None
        return user_id is None or (user is not None and self.directory.user_active(user))

    def use_assertion_id(self, party: Party, jti: str, expires_at: int) -> bool:
        """A private_key_jwt assertion's jti, kept until its exp: False when seen before.
        Stored beside revoked access-token ids under its own prefix and a digest, so a
        client's chosen jti can never name an access token."""
        key = "cja_" + self.hasher.digest(f"{party.id}\x1f{jti}").hex()[:36]
        when = datetime.fromtimestamp(max(expires_at, 0), UTC)
        return self.repo.add_revoked(key, party.account_id, utcnow(), when)

    # ------------------------------------------------------------------ consent
    def has_consent(self, user: User, client: OAuthClient, scopes: Iterable[str]) -> bool:
        row = self.repo.consent(user.id, client.id)
        return row is not None and set(scopes) <= set(row.scope.split())

    def save_consent(self, user: User, client: OAuthClient, scopes: Iterable[str]) -> None:
        row = self.repo.consent(user.id, client.id)
        if row is None:
            self.repo.add(
                OAuthConsent(
                    user_id=user.id, client_id=client.id, scope=join_scope(scopes),
                    granted_at=utcnow(),
                )
            )  # fmt: skip
        else:
            row.scope = join_scope(set(row.scope.split()) | set(scopes))
            row.granted_at = utcnow()

    # ------------------------------------------------------------------ audit
    def event(
        self,
        action: IdentityEventType,
        account_id: str,
        actor_id: str,
        object_id: str,
        *,
        mode: str = "live",
        detail: dict[str, Any] | None = None,
    ) -> None:
        record_event(
            self.session,
            account_id=account_id,
            action=action,
            actor_id=actor_id,
            object_id=object_id,
            mode=mode,
            address=self.audit.address,
            detail=detail,
        )
