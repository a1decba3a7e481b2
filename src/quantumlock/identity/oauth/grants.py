"""Authlib's grants and endpoints, given this service's storage and rules.

authorization_code (+ PKCE S256 only, + OpenID Connect), refresh_token (rotation, reuse
revokes the family), client_credentials (service accounts and OAuth clients);
client_secret_basic / client_secret_post / private_key_jwt (RFC 7523) / none;
revocation (RFC 7009) and introspection (RFC 7662).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749 import grants as rfc6749
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet

from quantumlock.core.clock import as_utc
from quantumlock.identity.models import OAuthAuthorizationCode, OAuthGrant, User
from quantumlock.identity.oauth.service import API_SCOPES, split_scope
from quantumlock.identity.secrets import generate_token
from quantumlock.identity.tokens import InvalidToken, decode_access_token, looks_like_jwt

if TYPE_CHECKING:
    from quantumlock.identity.oauth.server import Client, OAuthServer
    from quantumlock.identity.tokens import AccessClaims

WITH_SECRET = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
MAX_ASSERTION_LIFETIME = 3600  # seconds: the latest `exp` a private_key_jwt may carry


class Code:
    """An authorization code row, as Authlib and its OIDC and PKCE extensions read it."""

    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(as_utc(self.row.auth_time).timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


def _server(grant: Any) -> OAuthServer:
    server: OAuthServer = grant.server
    return server


class AuthorizationCodeGrant(rfc6749.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*WITH_SECRET, "none"]  # noqa: RUF012 - Authlib reads it

    def generate_authorization_code(self) -> str:
        return generate_token(32)

    def save_authorization_code(self, code: str, request: Any) -> None:
        server = _server(self)
        client: Client = request.client
        payload = request.payload.data
        server.service.save_code(
            code,
            client=client.party,  # type: ignore[arg-type]
            user=request.user,
            redirect_uri=self.redirect_uri or request.payload.redirect_uri,
            scope=server.ctx.scope if server.ctx.scope is not None else request.scope,
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            auth_time=datetime.fromtimestamp(server.ctx.auth_time or time.time(), UTC),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = _server(self).service.find_code(code, client.party.id)
        return Code(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        del authorization_code  # marked used (single use) in authenticate_user

    def authenticate_user(self, authorization_code: Code) -> User | None:
        server = _server(self)
        row = authorization_code.row
        user = server.service.directory.user(row.user_id)
        if user is None or not server.service.directory.user_active(user):
            return None
        grant = server.service.create_grant(
            self.request.client.party,
            user_id=user.id,
            scope=row.scope,
            nonce=row.nonce,
            auth_time=row.auth_time,
        )
        if not server.service.use_code(row, grant.id):  # a concurrent exchange won
            raise InvalidGrantError("Invalid 'code' in request.")
        server.ctx.grant = grant
        return user


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE: S256 only (plain is refused), required of public clients."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib reads it
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("PKCE is required: send 'code_challenge' (S256).")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCodeExtension(OpenIDCode):  # type: ignore[misc]
    def __init__(self, server: OAuthServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self.server.service.nonce_seen(request.payload.client_id, nonce)

    # The client's registered `id_token_signed_response_alg` picks the key; header `alg`
    # and `kid` are that key's, so an RP verifying against /oauth/jwks finds it.
    def resolve_client_private_key(self, client: Client) -> Any:
        return self.server.material_key(client.id_token_alg)

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = self.server.material_key(client.id_token_alg)
        return {"alg": client.id_token_alg, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        from quantumlock.identity.oauth.server import ID_TOKEN_TTL

        now = int(time.time())
        return {"iss": self.server.ctx.issuer, "aud": client.party.id, "exp": now + ID_TOKEN_TTL}

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_info(user, scope)


def user_info(user: User, scope: str) -> UserInfo:
    scopes = split_scope(scope)
    info = UserInfo(sub=user.id)
    if "email" in scopes:
        info["email"] = user.email
        info["email_verified"] = False  # addresses are not verified (yet)
    if "profile" in scopes:
        info["name"] = user.name
    return info


class RefreshToken:
    def __init__(self, grant: OAuthGrant) -> None:
        self.grant = grant

    def check_client(self, client: Client) -> bool:
        return self.grant.client_id == client.party.id

    def get_scope(self) -> str:
        return self.grant.scope


class RefreshTokenGrant(rfc6749.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*WITH_SECRET, "none"]  # noqa: RUF012 - Authlib reads it
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        server = _server(self)
        found = server.service.find_refresh(refresh_token)
        if found is None:
            return None
        row, grant = found
        self._row = row
        server.ctx.grant = grant
        return RefreshToken(grant)

    def authenticate_user(self, refresh_token: RefreshToken) -> User | None:
        directory = _server(self).service.directory
        user_id = refresh_token.grant.user_id
        user = directory.user(user_id) if user_id else None
        if user is None or not directory.user_active(user):
            raise InvalidGrantError("The user of this refresh token is not active.")
        return user

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        service = _server(self).service
        if not service.consume_refresh(self._row):  # used concurrently: that is reuse too
            service.refresh_reused(refresh_token.grant)
            raise InvalidGrantError()


class ClientCredentialsGrant(rfc6749.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = WITH_SECRET

    def validate_requested_scope(self) -> None:
        asked = split_scope(self.request.payload.scope)
        client: Client = self.request.client
        if any(s not in API_SCOPES for s in asked) or not client.service.client_allows(
            client.party, asked
        ):
            raise InvalidScopeError()


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication against the client's registered `jwks`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: OAuthServer) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.server = server

    def get_audiences(self) -> list[str]:
        return [self.server.token_endpoint, self.server.ctx.issuer]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        jwks = getattr(client.party, "jwks", None)
        try:
            return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except Exception:
            raise InvalidClientError(description="The client has no usable 'jwks'.") from None

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        party = self.server.service.directory.find(str(claims["sub"]))
        if party is None or not isinstance(jti, str) or not 0 < len(jti) <= 200:
            return False
        # Runs after the signature and `exp` checks. An assertion is meant for one request:
        # a far `exp` would make it a long-lived credential (and overflow the date kept).
        if int(claims["exp"]) > time.time() + MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="The assertion's 'exp' is too far ahead.")
        return self.server.service.use_assertion_id(party, jti, int(claims["exp"]))


class AccessToken:
    def __init__(self, claims: AccessClaims, server: OAuthServer) -> None:
        self.claims = claims
        self.server = server

    def check_client(self, client: Client) -> bool:
        return self.claims.client_id == client.party.id

    def get_scope(self) -> str:
        return " ".join(self.claims.scope)

    def is_expired(self) -> bool:
        return self.claims.expires_at <= time.time()

    def is_revoked(self) -> bool:
        service = self.server.service
        if service.is_access_revoked(self.claims.jti):
            return True
        # A disabled (or deleted) user, client or service account ends its tokens, as the
        # API's bearer check does: introspection and userinfo must not call them live.
        if not service.holder_active(self.claims.client_id, self.claims.user_id):
            return True
        grant = service.grant(self.claims.grant_id) if self.claims.grant_id else None
        return grant is not None and grant.revoked_at is not None


class _TokenLookup:
    server: OAuthServer
    ENDPOINT_NAME: str

    def query_token(self, token: str, hint: str | None) -> AccessToken | RefreshToken | None:
        del hint  # both kinds are told apart by their form
        if looks_like_jwt(token):
            try:
                claims = decode_access_token(token, self.server.ctx.material.public)
            except InvalidToken:
                return None
            return AccessToken(claims, self.server)
        found = self.server.service.refresh_family(token)
        if found is None:
            return None
        row, grant = found
        # Revoking an already used refresh token still ends its family (RFC 7009 §2.1);
        # introspection calls anything not live inactive.
        service = self.server.service
        if self.ENDPOINT_NAME == "introspection" and not (
            service.refresh_live(row, grant)
            and service.holder_active(grant.client_id, grant.user_id)
        ):
            return None
        return RefreshToken(grant)


class Revocation(_TokenLookup, RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [*WITH_SECRET, "none"]  # noqa: RUF012 - Authlib reads it

    def revoke_token(self, token: AccessToken | RefreshToken, request: Any) -> None:
        service = self.server.service
        if isinstance(token, AccessToken):
            c = token.claims
            service.revoke_access(c.jti, c.account_id, c.expires_at)
            subject, kind, mode = c.jti, "access_token", c.mode
            account = c.account_id
        else:
            service.revoke_grant_id(token.grant.id, "revoked")
            subject, kind, mode = token.grant.id, "refresh_token", token.grant.mode
            account = token.grant.account_id
        service.event("token.revoke", account, request.client.party.id, subject, mode=mode,
                      detail={"token_type": kind})  # fmt: skip


class Introspection(_TokenLookup, IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = WITH_SECRET

    def check_permission(self, token: Any, client: Client, request: Any) -> bool:
        """Only the same account's clients, in the same mode (a test-mode client sees no
        live token, as the API's tenant rule has it)."""
        if isinstance(token, AccessToken):
            owner = (token.claims.account_id, token.claims.mode)
        else:
            owner = (token.grant.account_id, token.grant.mode)
        return owner == (client.party.account_id, client.party.mode)

    def create_introspection_payload(self, token: Any) -> dict[str, Any]:
        if isinstance(token, RefreshToken):  # found only when live (find_refresh)
            g = token.grant
            return {"active": True, "token_type": "refresh_token", "client_id": g.client_id,
                    "scope": g.scope, "sub": g.user_id or g.client_id}  # fmt: skip
        return super().create_introspection_payload(token)  # type: ignore[no-any-return]

    def introspect_token(self, token: AccessToken) -> dict[str, Any]:
        c = token.claims
        return {
            "active": True,
            "token_type": "access_token",
            "client_id": c.client_id,
            "scope": " ".join(c.scope),
            "sub": c.subject,
            "aud": "quantumlock-api",
            "iss": c.issuer,
            "exp": c.expires_at,
            "iat": c.issued_at,
            "jti": c.jti,
        }


def register(server: OAuthServer) -> None:
    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCodeExtension(server)]
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT(server))
    server.register_endpoint(Revocation(server))
    server.register_endpoint(Introspection(server))
