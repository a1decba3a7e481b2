"""What an OAuth client may be registered with: redirect URIs, grant types, scopes, JWKS.

Pure checks (no SQL): each raises ValidationFailed naming the field, so the API answers 400
with a plain message and the service stays readable.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from quantumlock.auth.scopes import Scope, expand, parse_scopes, sort_scopes
from quantumlock.core.errors import InsufficientScope, ValidationFailed

MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000  # the authorization code stores it in a String(2000)
MAX_JWKS_KEYS = 5
MIN_RSA_BITS = 2048

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
# The algorithms of the provider's signing keys (quantumlock.identity.signing).
ID_TOKEN_ALGS = ("ES256", "RS256")
DEFAULT_ID_TOKEN_ALG = "ES256"  # noqa: S105 - an algorithm name
# Asked for by relying parties, granted by the provider; not API scopes (no Scope member).
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
# RFC 8252 §7.3: native apps listen on a loopback port, which only plain http can reach.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Members that only a private JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_TYPES: dict[str, type[ECKey] | type[RSAKey] | type[OKPKey]] = {
    "EC": ECKey,
    "RSA": RSAKey,
    "OKP": OKPKey,
}
_SIGNING_CURVES = {"EC": {"P-256", "P-384", "P-521"}, "OKP": {"Ed25519", "Ed448"}}


def check_redirect_uri(uri: str) -> str | None:
    """The problem with one redirect URI, None if it is acceptable.

    Redirect URIs are matched exactly (no prefix, wildcard or normalisation), so a URI is
    stored as given; only its shape is checked here.
    """
    if not uri or len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"must be 1 to {MAX_REDIRECT_URI_LENGTH} characters"
    if not uri.isascii() or any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return "must be printable ASCII without spaces"
    if "#" in uri:
        return "must not contain a fragment (RFC 6749 §3.1.2)"
    if "*" in uri:
        return "must not contain wildcards: redirect URIs are matched exactly"
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises on a malformed port
    except ValueError:
        return "is not a valid URI"
    del port
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain user information"
    loopback_only = "must be an absolute https URI (http only for localhost, 127.0.0.1 or [::1])"
    if parts.scheme not in ("https", "http"):
        return loopback_only
    host = (parts.hostname or "").lower()
    if not host:
        return "must be an absolute URI with a host"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return loopback_only
    return None


def redirect_uris_of(uris: Sequence[str]) -> list[str]:
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationFailed(
            f"redirect_uris: at most {MAX_REDIRECT_URIS} redirect URIs.", field="redirect_uris"
        )
    if len(set(uris)) != len(uris):
        raise ValidationFailed("redirect_uris: a URI is listed twice.", field="redirect_uris")
    for uri in uris:
        problem = check_redirect_uri(uri)
        if problem:
            raise ValidationFailed(
                f"redirect_uris: {uri[:100]!r} {problem}.", field="redirect_uris"
            )
    return list(uris)


def id_token_alg_of(value: str) -> str:
    if value not in ID_TOKEN_ALGS:
        raise ValidationFailed(
            f"id_token_signed_response_alg: one of {', '.join(ID_TOKEN_ALGS)}.",
            field="id_token_signed_response_alg",
        )
    return value


def grant_types_of(values: Sequence[str], *, kind: str) -> list[str]:
    if not values:
        raise ValidationFailed("grant_types: give at least one grant type.", field="grant_types")
    unknown = [v for v in values if v not in GRANT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"grant_types: unknown {unknown[0]!r}; allowed: {', '.join(GRANT_TYPES)}.",
            field="grant_types",
        )
    if kind == "public" and "client_credentials" in values:
        # A public client cannot keep a secret, so it cannot authenticate as itself.
        raise ValidationFailed(
            "grant_types: a public client cannot use client_credentials.", field="grant_types"
        )
    return [g for g in GRANT_TYPES if g in values]


def api_scopes_within(
    values: Sequence[str], ceiling: frozenset[Scope], *, field: str = "scopes"
) -> frozenset[Scope]:
    """Parse API scopes; 403 if they (with what they imply) exceed the caller's."""
    try:
        granted = parse_scopes(values)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: {exc}", field=field) from None
    missing = expand(granted) - ceiling
    if missing:
        raise InsufficientScope(
            "Cannot grant scopes the calling key lacks: " + ", ".join(sort_scopes(missing))
        )
    return granted


def client_scopes_within(values: Sequence[str], ceiling: frozenset[Scope]) -> list[str]:
    """An OAuth client's scopes: API scopes (within the caller's) plus OIDC scopes, in the
    documented order with the OIDC ones last."""
    if not values:
        raise ValidationFailed("scopes: give at least one scope.", field="scopes")
    oidc = [s for s in OIDC_SCOPES if s in values]
    api = api_scopes_within([v for v in values if v not in OIDC_SCOPES], ceiling)
    return sort_scopes(api) + oidc


def jwks_of(value: Any) -> dict[str, Any]:
    """A JWK set of public signing keys for `private_key_jwt`, checked with joserfc.

    Given inline only: a `jwks_uri` would make the server fetch URLs a tenant chooses
    (server-side request forgery into the operator's network), so there is none.
    """
    if not isinstance(value, dict) or set(value) != {"keys"} or not isinstance(value["keys"], list):
        raise ValidationFailed('jwks: must be {"keys": [...]} (a JWK set).', field="jwks")
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_JWKS_KEYS:
        raise ValidationFailed(f"jwks: give 1 to {MAX_JWKS_KEYS} keys.", field="jwks")
    kids: set[str] = set()
    out = []
    for index, jwk in enumerate(keys):
        out.append(_public_jwk(jwk, f"jwks: key {index}"))
        kid = jwk.get("kid")
        if kid is not None:
            if kid in kids:
                raise ValidationFailed(f"jwks: key {index}: kid {kid!r} repeats.", field="jwks")
            kids.add(kid)
    return {"keys": out}


def _public_jwk(jwk: Any, where: str) -> dict[str, Any]:
    def fail(problem: str) -> ValidationFailed:
        return ValidationFailed(f"{where}: {problem}.", field="jwks")

    if not isinstance(jwk, dict):
        raise fail("must be a JSON object (a JWK)")
    kty = jwk.get("kty")
    if kty not in _KEY_TYPES:
        raise fail("kty must be EC, RSA or OKP (public signing keys only)")
    if _PRIVATE_MEMBERS & set(jwk):
        raise fail("holds private key members: register only the public key")
    if jwk.get("use", "sig") != "sig":
        raise fail('"use" must be "sig"')
    for member in ("kid", "alg"):
        if member in jwk and not (isinstance(jwk[member], str) and 0 < len(jwk[member]) <= 200):
            raise fail(f"{member} must be a short string")
    curves = _SIGNING_CURVES.get(kty)
    if curves is not None and jwk.get("crv") not in curves:
        raise fail(f"crv must be one of {', '.join(sorted(curves))}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns on small keys: refused below
            key = _KEY_TYPES[kty].import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        reason = str(exc)[:100] or type(exc).__name__
        raise fail(f"not a valid {kty} key ({reason})") from None
    if key.is_private:
        raise fail("holds private key members: register only the public key")
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise fail(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    public: dict[str, Any] = dict(key.as_dict(private=False))
    for member in ("kid", "alg", "use"):
        if member in jwk:
            public[member] = jwk[member]
    return public
