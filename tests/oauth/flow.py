"""Driving the browser side of the authorization code flow in-process: the authorize
request, the sign-in form, the consent form."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from tests.oauth.support import REDIRECT, Registered


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def authorize_params(rp: Registered, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": rp.id,
        "redirect_uri": REDIRECT,
        "scope": "openid email profile licenses:read offline_access",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def sign_in(client: TestClient, login_location: str, email: str, password: str) -> str:
    """Submit the sign-in form reached from the authorize redirect; return where it goes."""
    page = client.get(login_location, follow_redirects=False)
    assert page.status_code == 200, page.text
    next_path = query_of(login_location)["next"]
    form = {"csrf_token": csrf_of(page.text), "email": email, "password": password,
            "next": next_path}  # fmt: skip
    done = client.post("/login", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    return str(done.headers["location"])


def approve(client: TestClient, consent: httpx.Response, decision: str = "approve") -> str:
    assert consent.status_code == 200, consent.text
    action = re.search(r'<form method="post" action="([^"]+)"', consent.text)
    assert action
    url = action.group(1).replace("&amp;", "&")
    r = client.post(url, data={"csrf_token": csrf_of(consent.text), "decision": decision},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def get_code(
    client: TestClient, rp: Registered, email: str, password: str, challenge: str | None,
    **extra: str,
) -> dict[str, Any]:  # fmt: skip
    """The whole browser side: authorize, sign in (if needed), consent (if asked); the
    redirect's query (code, state) plus the params sent."""
    params = authorize_params(rp, challenge, **extra)
    r = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert r.status_code == 302, r.text
    location = str(r.headers["location"])
    if location.startswith("/login"):
        back = sign_in(client, location, email, password)
        r = client.get(back, follow_redirects=False)
        location = approve(client, r) if r.status_code == 200 else str(r.headers["location"])
    assert location.startswith(REDIRECT), location
    return {**query_of(location), "sent": params}
