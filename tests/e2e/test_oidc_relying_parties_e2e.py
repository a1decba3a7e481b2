"""Two independent OpenID Connect relying parties drive the real server (#19 "Must show").

* Authlib's OAuth 2.0 client (httpx), ID token checked with joserfc against /oauth/jwks;
* requests-oauthlib's OAuth2Session, ID token checked with PyJWT's PyJWKClient.

Each runs the authorization code flow with PKCE S256 as a browser would: the authorize URL
leads to the sign-in form, which the test fills in and submits, then to the consent form,
which it approves; the redirect to the client's callback carries the code. Then: the
access token on /oauth/userinfo and /api/v2/me, a refresh, and the first refresh token
presented again, which revokes the whole family (the second refresh token and the access
tokens of the family are refused).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt as pyjwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from requests_oauthlib import OAuth2Session

from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("oidc-e2e")]

CALLBACK = "http://127.0.0.1:9/callback"  # never fetched: the test reads the redirect
PASSWORD = "correct horse battery staple 42"


class _Forms(HTMLParser):
    """Every <form> of a page: its action, method and the values its inputs would send."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}, "buttons": []})  # fmt: skip
        elif self.forms and tag in ("input", "button") and a.get("name"):
            if tag == "button" or a.get("type") == "submit":
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
            elif a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@dataclass
class Tenant:
    server: Server
    admin_key: str
    email: str

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base_url,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=10,
        )


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    server = start_server(Path(tmp_path_factory.mktemp("oidc")), None)
    try:
        created = server.cli_json("accounts", "create", "--name", "RP Co", "--email", "o@rp.test")
        assert isinstance(created, dict)
        email = f"member-{secrets.token_hex(4)}@rp.test"
        tenant = Tenant(server, str(created["api_key"]), email)
        with tenant.api() as api:
            made = api.post(
                "/api/v2/users", json={"email": email, "role": "member", "password": PASSWORD}
            )
            assert made.status_code == 201, made.text
        yield tenant
    finally:
        stop_server(server)


def make_client(tenant: Tenant, *, public: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "public RP" if public else "confidential RP",
        "kind": "public" if public else "confidential",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "offline_access", "licenses:read"],
    }
    if public:
        body["token_endpoint_auth_method"] = "none"
    with tenant.api() as api:
        made = api.post("/api/v2/oauth-clients", json=body)
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()["data"]
    return data


def discovery(server: Server) -> dict[str, Any]:
    meta = httpx.get(server.base_url + "/.well-known/openid-configuration", timeout=10)
    assert meta.status_code == 200, meta.text
    doc: dict[str, Any] = meta.json()
    assert doc["issuer"] == server.base_url
    assert "S256" in doc["code_challenge_methods_supported"]
    return doc


def sign_in_and_consent(server: Server, authorize_url: str, email: str) -> str:
    """Play the browser: follow the authorize URL through sign-in and consent; return the
    callback URL the server finally redirects to (with code and state)."""
    with httpx.Client(base_url=server.base_url, timeout=10, follow_redirects=False) as browser:
        url = authorize_url
        signed_in = consented = False
        for _ in range(10):
            page = browser.get(url)
            if page.status_code in (302, 303):
                url = urljoin(str(page.url), page.headers["location"])
                if url.startswith(CALLBACK):
                    return url
                continue
            assert page.status_code == 200, page.text
            forms = forms_of(page.text)
            assert forms, f"no form on {page.url}: {page.text[:500]}"
            form = forms[0]
            fields = dict(form["fields"])
            if "password" in fields and not signed_in:
                fields.update(email=email, password=PASSWORD)
                signed_in = True
            elif not consented:
                consented = True
            else:
                raise AssertionError(f"unexpected form on {page.url}: {page.text[:500]}")
            for name, value in form["buttons"]:
                if value in ("approve", "allow", "accept", "yes") or name == "approve":
                    fields[name] = value
                    break
            action: str = urljoin(str(page.url), str(form["action"] or page.url))
            answer = browser.post(action, data=fields)
            assert answer.status_code in (302, 303), answer.text[:800]
            url = urljoin(action, answer.headers["location"])
            if url.startswith(CALLBACK):
                return url
    raise AssertionError("the flow did not reach the callback")


def use_access_token(server: Server, token: str, email: str) -> None:
    info = httpx.get(
        server.base_url + "/oauth/userinfo",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert info.status_code == 200, info.text
    assert info.json()["email"] == email
    me = httpx.get(
        server.base_url + "/api/v2/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200, me.text
    scopes = me.json()["data"]["scopes"]
    assert "licenses:read" in scopes
    assert "admin" not in scopes  # the user is a member and the client asked no more


def refused_within_a_second(server: Server, token: str) -> None:
    deadline = time.monotonic() + 1.0
    while True:
        me = httpx.get(
            server.base_url + "/api/v2/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        if me.status_code == 401:
            assert me.json()["code"] == "UNAUTHORIZED"
            return
        assert time.monotonic() < deadline, "the family's access token still works after 1 s"
        time.sleep(0.05)


def test_authlib_relying_party(tenant: Tenant) -> None:
    server = tenant.server
    meta = discovery(server)
    registered = make_client(tenant, public=False)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    rp = OAuth2Client(
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
        scope="openid email profile offline_access licenses:read",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = sign_in_and_consent(server, url, tenant.email)
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer"

    jwks = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=10).json())
    id_token = jose_jwt.decode(token["id_token"], jwks, algorithms=["ES256", "RS256"])
    jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": registered["client_id"]},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["sub"].startswith("usr_")
    use_access_token(server, token["access_token"], tenant.email)

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    use_access_token(server, refreshed["access_token"], tenant.email)

    # The first refresh token again: reuse. The family goes: its newest refresh token and
    # its access tokens with it.
    reuse = httpx.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(registered["client_id"], registered["client_secret"]),
        timeout=10,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
    again = httpx.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(registered["client_id"], registered["client_secret"]),
        timeout=10,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    refused_within_a_second(server, refreshed["access_token"])


def test_requests_oauthlib_relying_party_with_pyjwt(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server speaks plain http on loopback; oauthlib refuses that unless told.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    server = tenant.server
    meta = discovery(server)
    registered = make_client(tenant, public=True)
    assert "client_secret" not in registered or not registered["client_secret"]
    nonce = secrets.token_urlsafe(16)
    rp = OAuth2Session(
        registered["client_id"],
        redirect_uri=CALLBACK,
        scope=["openid", "email", "offline_access", "licenses:read"],
        pkce="S256",
    )
    url, _ = rp.authorization_url(meta["authorization_endpoint"], nonce=nonce)
    callback = sign_in_and_consent(server, url, tenant.email)
    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, include_client_id=True
    )

    signing_key = pyjwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["id_token"])
    claims = pyjwt.decode(
        token["id_token"],
        signing_key.key,
        algorithms=["ES256", "RS256"],
        audience=registered["client_id"],
        issuer=meta["issuer"],
    )
    assert claims["nonce"] == nonce
    assert claims["email"] == tenant.email
    use_access_token(server, token["access_token"], tenant.email)

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(
        meta["token_endpoint"], refresh_token=first_refresh, client_id=registered["client_id"]
    )
    assert refreshed["refresh_token"] != first_refresh
    reuse = httpx.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": first_refresh,
            "client_id": registered["client_id"],
        },
        timeout=10,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
    refused_within_a_second(server, refreshed["access_token"])
