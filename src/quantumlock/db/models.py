"""Imports every domain's tables so Alembic sees one complete metadata."""

from quantumlock.accounts.models import Account
from quantumlock.auth.models import ApiKey, ApiKeyEvent
from quantumlock.crypto.models import KeyExchangeSession, QuantumKey
from quantumlock.db.base import Base, ChangeEvent, MasterKeyCanary
from quantumlock.idempotency.models import IdempotencyRecord
from quantumlock.identity.models import (
    ClientSecret,
    IdentityEvent,
    OAuthAuthorizationCode,
    OAuthClient,
    OAuthConsent,
    OAuthGrant,
    OAuthRefreshToken,
    OAuthRevokedToken,
    OAuthSigningKey,
    ServiceAccount,
    User,
    UserRecoveryCode,
    UserSession,
    UserToken,
)
from quantumlock.licensing.models import (
    AccountSecret,
    License,
    LicenseEvent,
    LicenseUsage,
    SigningKey,
)

metadata = Base.metadata

__all__ = [
    "Account",
    "AccountSecret",
    "ApiKey",
    "ApiKeyEvent",
    "ChangeEvent",
    "ClientSecret",
    "IdempotencyRecord",
    "IdentityEvent",
    "KeyExchangeSession",
    "License",
    "LicenseEvent",
    "LicenseUsage",
    "MasterKeyCanary",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthConsent",
    "OAuthGrant",
    "OAuthRefreshToken",
    "OAuthRevokedToken",
    "OAuthSigningKey",
    "QuantumKey",
    "ServiceAccount",
    "SigningKey",
    "User",
    "UserRecoveryCode",
    "UserSession",
    "UserToken",
    "metadata",
]
