"""JWT access tokens (RFC 9068 profile) as this provider signs and every API node checks.

Header: ``{"typ": "at+jwt", "alg": "ES256" | "RS256", "kid": ...}``. Claims:

=============  ==================================================================
``iss``        the issuer URL
``aud``        AUDIENCE: this service's API
``sub``        the user (``usr_…``), or the client itself for client_credentials
``client_id``  ``client_…`` or ``service_…``
``scope``      space-separated; never more than the client and the user's role hold
``jti``        ``at_…``: what revocation names
``iat exp``    15 minutes apart (ACCESS_TOKEN_TTL)
``acct``       the account the token acts for
``mode``       live | test
``gid``        the grant (token family), for tokens from a user's authorization
``auth_time``  when the user signed in (user tokens)
=============  ==================================================================

An ID token is signed by the same keys but has ``typ`` JWT: `decode_access_token` refuses
anything but ``at+jwt``, so an ID token is never accepted as an access token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from quantumlock.core.ids import new_id
from quantumlock.identity.signing import PrivateKey

ACCESS_TOKEN_TTL = 15 * 60
AUDIENCE = "quantumlock-api"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE type, not a secret
LEEWAY = 30  # seconds of clock skew between nodes
ALGORITHMS = ["ES256", "RS256"]


class InvalidToken(Exception):
    """Not an access token of this provider, or expired (the message names which)."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    jti: str
    issuer: str
    subject: str
    client_id: str
    account_id: str
    mode: str
    scope: tuple[str, ...]
    issued_at: int
    expires_at: int
    grant_id: str | None = None
    user_id: str | None = None
    auth_time: int | None = None

    def to_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": self.subject,
            "client_id": self.client_id,
            "scope": " ".join(self.scope),
            "jti": self.jti,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "acct": self.account_id,
            "mode": self.mode,
        }
        if self.grant_id:
            claims["gid"] = self.grant_id
        if self.auth_time is not None:
            claims["auth_time"] = self.auth_time
        return claims


def new_access_claims(
    *,
    issuer: str,
    client_id: str,
    account_id: str,
    mode: str,
    scope: tuple[str, ...],
    user_id: str | None = None,
    grant_id: str | None = None,
    auth_time: int | None = None,
    now: int | None = None,
    ttl: int = ACCESS_TOKEN_TTL,
) -> AccessClaims:
    issued = int(time.time()) if now is None else now
    return AccessClaims(
        jti=new_id("at", 24),
        issuer=issuer,
        subject=user_id or client_id,
        client_id=client_id,
        account_id=account_id,
        mode=mode,
        scope=scope,
        issued_at=issued,
        expires_at=issued + ttl,
        grant_id=grant_id,
        user_id=user_id,
        auth_time=auth_time,
    )


def encode_access_token(claims: AccessClaims, key: PrivateKey) -> str:
    header = {"typ": ACCESS_TOKEN_TYPE, "alg": key.alg, "kid": key.kid}
    return jwt.encode(header, claims.to_claims(), key, algorithms=ALGORITHMS)


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("ey")


def decode_access_token(token: str, keys: KeySet, *, now: float | None = None) -> AccessClaims:
    """Verify signature, type, audience and lifetime; raise InvalidToken otherwise."""
    try:
        decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise InvalidToken("Invalid access token.") from error
    if str(decoded.header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYPE, "application/at+jwt"):
        raise InvalidToken("Invalid access token.")
    c = decoded.claims
    current = time.time() if now is None else now
    try:
        exp, iat = int(c["exp"]), int(c["iat"])
        if c.get("aud") != AUDIENCE:
            raise InvalidToken("Invalid access token.")
        scope = tuple(str(c.get("scope", "")).split())
        claims = AccessClaims(
            jti=str(c["jti"]),
            issuer=str(c["iss"]),
            subject=str(c["sub"]),
            client_id=str(c["client_id"]),
            account_id=str(c["acct"]),
            mode=str(c["mode"]),
            scope=scope,
            issued_at=iat,
            expires_at=exp,
            grant_id=str(c["gid"]) if c.get("gid") else None,
            user_id=str(c["sub"]) if str(c["sub"]).startswith("usr_") else None,
            auth_time=int(c["auth_time"]) if c.get("auth_time") is not None else None,
        )
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("Invalid access token.") from None
    if exp <= current - LEEWAY or iat > current + LEEWAY:
        raise InvalidToken("Access token expired." if exp <= current else "Invalid access token.")
    if claims.mode not in ("live", "test"):
        raise InvalidToken("Invalid access token.")
    return claims
