"""Every identity table, in one module: the sub-packages (users, clients, oauth) share them.

Secrets never rest in the clear: session tokens, one-time links, recovery codes, client
secrets, authorization codes and refresh tokens are stored as keyed hashes
(`quantumlock.keyring.hasher.KeyHasher`); TOTP secrets and signing keys are sealed under the
master key. Passwords are Argon2id hashes (`quantumlock.identity.passwords`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from quantumlock.db.base import Base
from quantumlock.keyring.registry import register_sealed

# --------------------------------------------------------------------------------- users


class User(Base):
    """A person who signs in (portal, OAuth login). Belongs to exactly one account."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # usr_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Normalised (stripped, lower-cased): one address signs in to one account.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))  # owner | admin | member | viewer
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    sealed_totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


def totp_aad(user_id: str) -> bytes:
    return b"quantumlock/user-totp/" + user_id.encode()


register_sealed(User.sealed_totp_secret, key=(User.id,), aad=totp_aad)


class UserRecoveryCode(Base):
    __tablename__ = "user_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class UserToken(Base):
    """A one-time link: set a first password (`set_password`) or reset one (`reset_password`)."""

    __tablename__ = "user_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class UserSession(Base):
    """A server-side sign-in session; the cookie carries only its random token."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # ses_…
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    method: Mapped[str] = mapped_column(String(16))  # password | sso
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # A SAML session (method `sso`): the IdP's NameID and SessionIndex, so the IdP's
    # LogoutRequest (single logout) finds the sessions it names.
    sso_name_id: Mapped[str | None] = mapped_column(String(512), default=None)
    sso_session_index: Mapped[str | None] = mapped_column(String(255), default=None)


# ----------------------------------------------------------- OAuth clients, service accounts


class OAuthClient(Base):
    """A relying party registered by an account: confidential or public."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # client_id: client_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(8))  # live | test: the mode its tokens act in
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # confidential | public
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)  # the most its tokens may carry
    # client_secret_basic | client_secret_post | private_key_jwt | none (public)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # private_key_jwt
    # OIDC Dynamic Client Registration's name: ES256 | RS256 (some RPs only verify RS256)
    id_token_signed_response_alg: Mapped[str] = mapped_column(
        String(8), default="ES256", server_default="ES256"
    )
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class ServiceAccount(Base):
    """A machine identity: `client_credentials` with exactly its scopes."""

    __tablename__ = "service_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # client_id: service_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(8))  # live | test
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class ClientSecret(Base):
    """A secret of an OAuth client or a service account (`owner_id` is its client_id).
    Rotation adds a new row and gives the old one an `expires_at`: both work until then."""

    __tablename__ = "client_secrets"
    __table_args__ = (Index("ix_client_secrets_owner_id", "owner_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # csec_…
    owner_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(24))  # what lists show, never usable
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


# ------------------------------------------------------------------------- OAuth / OIDC


class OAuthSigningKey(Base):
    """The provider's token signing keys (ES256, RS256): published in the JWKS while active
    or verify-only, so tokens signed before a rotation stay verifiable (kid overlap)."""

    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))  # ES256 | RS256
    status: Mapped[str] = mapped_column(String(16))  # active | verify_only | retired
    # The algorithm while this is its active key, else NULL. Unique: two nodes making the
    # first keys of a new database (or two rotations at once) cannot both make one active.
    active_for: Mapped[str | None] = mapped_column(String(8), unique=True, default=None)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    sealed_private: Mapped[bytes] = mapped_column(LargeBinary)  # PEM (PKCS#8), sealed
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


def oauth_signing_key_aad(kid: str) -> bytes:
    return b"quantumlock/oauth-signing-key/" + kid.encode()


register_sealed(
    OAuthSigningKey.sealed_private, key=(OAuthSigningKey.kid,), aad=oauth_signing_key_aad
)


class OAuthGrant(Base):
    """One authorization a user gave a client (or one client_credentials issue): the family
    its refresh tokens and access tokens belong to. Revoking it refuses them all."""

    __tablename__ = "oauth_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # grt_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    mode: Mapped[str] = mapped_column(String(8))
    client_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    scope: Mapped[str] = mapped_column(String(2000))
    nonce: Mapped[str | None] = mapped_column(String(255), default=None)
    auth_time: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class OAuthAuthorizationCode(Base):
    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(2000))
    nonce: Mapped[str | None] = mapped_column(String(255), default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), default=None)
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    # The grant its exchange made: a second use of the code revokes it (RFC 6749 §10.5).
    grant_id: Mapped[str | None] = mapped_column(String(32), default=None)


class OAuthRefreshToken(Base):
    __tablename__ = "oauth_refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    grant_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("oauth_grants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set when it was exchanged for its successor: presenting it again is reuse.
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthRevokedToken(Base):
    """An access token revoked before it expired (RFC 7009), until it would have expired."""

    __tablename__ = "oauth_revoked_tokens"

    jti: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    revoked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OAuthConsent(Base):
    """Scopes a user already approved for a client: the consent page is not shown again
    for them unless the client asks (`prompt=consent`)."""

    __tablename__ = "oauth_consents"

    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(2000))
    granted_at: Mapped[datetime]


# ---------------------------------------------------------------------------- SAML SSO


class SamlConnection(Base):
    """An account's SAML identity provider (one per account) and this service's SP key pair
    for it. Users belong to no mode, so neither does this."""

    __tablename__ = "saml_connections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # saml_…
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    preset: Mapped[str] = mapped_column(String(16))  # custom | okta | azure_ad | auth0
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    idp_entity_id: Mapped[str] = mapped_column(String(1024))
    idp_sso_url: Mapped[str] = mapped_column(String(2000))  # HTTP-Redirect binding
    idp_slo_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    # PEM certificates the IdP signs with: more than one during a certificate roll-over.
    idp_certificates: Mapped[list[str]] = mapped_column(JSON)
    # Attribute names (the preset's unless set); no email attribute: the NameID is the email.
    attribute_email: Mapped[str | None] = mapped_column(String(255), default=None)
    attribute_name: Mapped[str | None] = mapped_column(String(255), default=None)
    attribute_groups: Mapped[str | None] = mapped_column(String(255), default=None)
    jit_provisioning: Mapped[bool] = mapped_column(Boolean, default=True)
    default_role: Mapped[str] = mapped_column(String(16))  # admin | member | viewer
    group_roles: Mapped[dict[str, str]] = mapped_column(JSON)  # IdP group -> role
    allow_idp_initiated: Mapped[bool] = mapped_column(Boolean, default=False)
    sso_required: Mapped[bool] = mapped_column(Boolean, default=False)
    clock_skew_seconds: Mapped[int] = mapped_column(Integer, default=60)
    # The SP's signing pair (metadata, AuthnRequests, logout messages): self-signed, made
    # with the connection; the private key is sealed.
    sp_certificate: Mapped[str] = mapped_column(String(4096))
    sealed_sp_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


def saml_sp_key_aad(connection_id: str) -> bytes:
    return b"quantumlock/saml-sp-key/" + connection_id.encode()


register_sealed(SamlConnection.sealed_sp_private_key, key=(SamlConnection.id,), aad=saml_sp_key_aad)


class SamlRequest(Base):
    """An AuthnRequest this service sent and not yet answered: the ACS accepts a response
    `InResponseTo` it only once and only before `expires_at`, on any node."""

    __tablename__ = "saml_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the AuthnRequest ID
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    relay_state: Mapped[str] = mapped_column(String(2000))  # a local path
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class SamlAssertionId(Base):
    """An assertion already consumed, kept until it would have expired: a replay, on this
    node or another, finds it. `key` is a digest of the account and the assertion ID."""

    __tablename__ = "saml_assertion_ids"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


# ------------------------------------------------------------------------------- audit


class IdentityEvent(Base):
    """Append-only audit of identity: sign-ins and failures, lock-outs, token grants, refresh
    reuse, revocations, user / client / service-account changes. Read by the audit domain
    with the other event tables. Never a secret, hash or password."""

    __tablename__ = "identity_events"
    __table_args__ = (Index("ix_identity_events_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    mode: Mapped[str] = mapped_column(String(8))  # live, or test for a test-mode client's
    action: Mapped[str] = mapped_column(String(40))  # an EventType (quantumlock.identity.events)
    # Who acted: an API key id, usr_…, client_…, service_…, or `cli` for the operator.
    actor_id: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]
