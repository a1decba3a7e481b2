"""Provider metadata: RFC 8414 (/.well-known/oauth-authorization-server) and OpenID Connect
Discovery 1.0 (/.well-known/openid-configuration), as Authlib's metadata models define them
(tests validate both with an https issuer: Authlib's checks insist on https)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from quantumlock.auth.scopes import sort_scopes
from quantumlock.identity.oauth.service import API_SCOPES, OIDC_SCOPES
from quantumlock.identity.signing import ALGORITHMS

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def oauth_metadata(issuer: str) -> AuthorizationServerMetadata:
    return AuthorizationServerMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": issuer + "/oauth/token",
            "jwks_uri": issuer + "/oauth/jwks",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "introspection_endpoint": issuer + "/oauth/introspect",
            "userinfo_endpoint": issuer + "/oauth/userinfo",
            "scopes_supported": [*sort_scopes(API_SCOPES), *OIDC_SCOPES],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:3],
            "introspection_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
        }
    )


def openid_metadata(issuer: str) -> OpenIDProviderMetadata:
    data: dict[str, Any] = dict(oauth_metadata(issuer))
    data.update(
        {
            "subject_types_supported": ["public"],
            # Per client: its id_token_signed_response_alg (ES256 by default, or RS256).
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
                "email", "email_verified", "name",
            ],
        }
    )  # fmt: skip
    return OpenIDProviderMetadata(data)
