"""The registration checks of OAuth clients, without a database: redirect URIs, grant
types, scopes and JWK sets."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from quantumlock.auth.scopes import Scope, expand
from quantumlock.core.errors import InsufficientScope, ValidationFailed
from quantumlock.identity.clients.validation import (
    check_redirect_uri,
    client_scopes_within,
    grant_types_of,
    jwks_of,
    redirect_uris_of,
)

GOOD_URIS = [
    "https://app.example/cb",
    "https://app.example:8443/oauth/callback?tenant=1",
    "http://localhost/cb",
    "http://localhost:8765/cb",
    "http://127.0.0.1:53682/",
    "http://[::1]:9000/cb",
    "https://xn--bcher-kva.example/cb",
]
BAD_URIS = {
    "http://app.example/cb": "https",
    "http://localhost.evil.example/cb": "https",
    "http://127.0.0.2/cb": "https",
    "ftp://app.example/cb": "https",
    "com.example.app:/cb": "https",
    "https://app.example/cb#frag": "fragment",
    "https://app.example/cb#": "fragment",
    "https://*.example/cb": "wildcard",
    "https://user:pw@app.example/cb": "user information",
    "https://evil.example@app.example/cb": "user information",
    "/relative/cb": "absolute",
    "https:///cb": "absolute",
    "https://app.example:99999/cb": "not a valid URI",
    "https://app.example/c b": "printable ASCII",
    "https://app.example/\u00e9": "printable ASCII",
    "https://app.example/\ncb": "printable ASCII",
    "": "1 to",
    "https://app.example/" + "a" * 2000: "1 to",
}


@pytest.mark.parametrize("uri", GOOD_URIS)
def test_acceptable_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) is None


@pytest.mark.parametrize(("uri", "problem"), sorted(BAD_URIS.items()))
def test_refused_redirect_uris(uri: str, problem: str) -> None:
    found = check_redirect_uri(uri)
    assert found is not None and problem in found


def test_redirect_uri_lists() -> None:
    # Exact-match semantics: stored as given, not normalised (a trailing slash is another URI).
    assert redirect_uris_of(["https://a.example/cb", "https://a.example/cb/"]) == [
        "https://a.example/cb",
        "https://a.example/cb/",
    ]
    with pytest.raises(ValidationFailed, match="twice"):
        redirect_uris_of(["https://a.example/cb"] * 2)
    with pytest.raises(ValidationFailed, match="at most 10"):
        redirect_uris_of([f"https://a.example/{i}" for i in range(11)])
    assert len(redirect_uris_of([f"https://a.example/{i}" for i in range(10)])) == 10


def test_grant_types() -> None:
    assert grant_types_of(["refresh_token", "authorization_code"], kind="public") == [
        "authorization_code",
        "refresh_token",
    ]
    with pytest.raises(ValidationFailed, match="public client cannot use client_credentials"):
        grant_types_of(["client_credentials"], kind="public")
    assert grant_types_of(["client_credentials"], kind="confidential") == ["client_credentials"]
    with pytest.raises(ValidationFailed, match="unknown 'implicit'"):
        grant_types_of(["implicit"], kind="confidential")
    with pytest.raises(ValidationFailed):
        grant_types_of([], kind="confidential")


def test_scope_ceilings() -> None:
    caller = expand({Scope.LICENSES_WRITE})
    assert client_scopes_within(["openid", "licenses:read", "offline_access"], caller) == [
        "licenses:read",
        "openid",
        "offline_access",
    ]
    with pytest.raises(InsufficientScope, match="quantum:keys"):
        client_scopes_within(["quantum:keys", "openid"], caller)
    with pytest.raises(InsufficientScope, match="admin"):
        client_scopes_within(["admin"], caller)
    with pytest.raises(ValidationFailed, match="Unknown scope 'address'"):
        client_scopes_within(["address"], caller)
    with pytest.raises(ValidationFailed):
        client_scopes_within([], caller)


def _public(key: ECKey | RSAKey | OKPKey, **extra: str) -> dict[str, object]:
    return {**key.as_dict(private=False), **extra}


@pytest.mark.filterwarnings("ignore:Key size")  # the 1024-bit key made to be refused
def test_jwks_public_keys_only() -> None:
    ec, ed = ECKey.generate_key("P-256"), OKPKey.generate_key("Ed25519")
    rsa = RSAKey.generate_key(2048)
    keys = [_public(ec, kid="a"), _public(ed, kid="b"), _public(rsa, kid="c", alg="RS256")]
    out = jwks_of({"keys": keys})
    assert [k["kid"] for k in out["keys"]] == ["a", "b", "c"]
    assert all("d" not in k for k in out["keys"])

    refusals = {
        "private key members": {"keys": [ec.as_dict(private=True)]},
        "kty must be": {"keys": [OctKey.generate_key(256).as_dict()]},
        "1 to 5": {"keys": [_public(ECKey.generate_key("P-256")) for _ in range(6)]},
        "repeats": {"keys": [_public(ec, kid="x"), _public(ed, kid="x")]},
        "JWK set": {"keys": "nope"},
        "not a valid EC": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "BBBB"}]},
        '"use" must be': {"keys": [_public(ec, use="enc")]},
        "crv must be": {"keys": [_public(OKPKey.generate_key("X25519"))]},
        "at least 2048": {"keys": [_public(RSAKey.generate_key(1024))]},
    }
    for problem, value in refusals.items():
        with pytest.raises(ValidationFailed, match=problem):
            jwks_of(value)
    with pytest.raises(ValidationFailed, match="JWK set"):
        jwks_of({"keys": [_public(ec)], "jwks_uri": "https://x.example/jwks"})
