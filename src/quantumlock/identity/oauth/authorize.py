"""The authorization endpoint's decisions (RFC 6749 §4.1, OIDC Core §3.1.2), free of HTTP.

Until the client and its redirect URI are known good, an error is shown on our own page
(never redirected: an open redirector otherwise). After, it goes to the redirect URI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError, InvalidScopeError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

from quantumlock.identity.models import OAuthClient, User
from quantumlock.identity.oauth.server import Client, HttpRequest, OAuthServer, QLRequest
from quantumlock.identity.oauth.service import (
    SCOPE_DESCRIPTIONS,
    holds,
    join_scope,
    split_scope,
)

Kind = Literal["error_page", "redirect", "login", "reauth", "consent"]


@dataclass
class Outcome:
    kind: Kind
    location: str = ""  # redirect: where; login, reauth: the authorize URL to come back to
    error: str = ""
    description: str = ""
    client_name: str = ""
    scopes: list[tuple[str, str]] = field(default_factory=list)
    redirect_uri: str = ""  # consent: where the decision will send the browser


def _page(error: OAuth2Error | str, description: str = "") -> Outcome:
    if isinstance(error, OAuth2Error):
        return Outcome("error_page", error=error.error,
                       description=error.get_error_description() or "")  # fmt: skip
    return Outcome("error_page", error=error, description=description)


def _answer(server: OAuthServer, request: QLRequest, error: OAuth2Error) -> Outcome:
    if not error.redirect_uri:
        return _page(error)
    error.state = request.payload.state
    answer = server.handle_error_response(request, error)
    return Outcome("redirect", location=dict(answer.headers)["Location"])


def without_login_prompt(url: str) -> str:
    """The authorize URL to come back to after a forced sign-in (prompt=login done)."""
    parts = urlsplit(url)
    pairs = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        pairs.append((key, value))
    return urlunsplit(("", "", parts.path, urlencode(pairs), ""))


def authorize(
    server: OAuthServer,
    http: HttpRequest,
    user: User | None,
    decision: Literal["approve", "deny"] | None = None,
) -> Outcome:
    """`decision`: None for the GET (show consent or issue), else the consent form's."""
    request = QLRequest(http)
    try:
        grant = server.get_consent_grant(request, end_user=user)
    except OAuth2Error as error:
        return _answer(server, request, error)
    except ValueError:  # Authlib refuses to describe some malformed values
        return _page("invalid_request", "The request is malformed.")
    redirect_uri = grant.redirect_uri
    try:
        return _decide(server, request, grant, user, redirect_uri, decision)
    except OAuth2Error as error:
        if error.redirect_uri is None:
            error.redirect_uri = redirect_uri
        return _answer(server, request, error)


def _decide(
    server: OAuthServer,
    request: QLRequest,
    grant: object,
    user: User | None,
    redirect_uri: str,
    decision: str | None,
) -> Outcome:
    prompts = request.payload.data.get("prompt", "").split()
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("Invalid 'prompt' parameter.")
    client: Client = request.client
    party = client.party
    assert isinstance(party, OAuthClient)  # noqa: S101 - only they have redirect URIs
    if user is None:
        if "none" in prompts:
            raise LoginRequiredError()
        return Outcome("login", location=without_login_prompt(request.uri))
    if "login" in prompts and decision is None:  # sign in again, whoever is signed in
        return Outcome("reauth", location=without_login_prompt(request.uri))
    if user.account_id != party.account_id or not server.service.directory.user_active(user):
        return _page("access_denied", "You cannot sign in to this application.")
    scopes = split_scope(request.scope) or server.service.default_scope(party, user)
    if not holds(server.service.user_scopes(user), scopes):
        raise InvalidScopeError("The requested scope exceeds what your role holds.")
    request.scope = server.ctx.scope = join_scope(scopes)
    service = server.service
    if decision is None:
        if service.has_consent(user, party, scopes) and "consent" not in prompts:
            return _issue(server, request, grant, user)
        if "none" in prompts:
            raise ConsentRequiredError()
        return Outcome(
            "consent",
            client_name=party.name,
            scopes=[(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in request.scope.split()],
            redirect_uri=redirect_uri,
        )
    if decision != "approve":
        raise AccessDeniedError()
    service.save_consent(user, party, scopes)
    return _issue(server, request, grant, user)


def _issue(server: OAuthServer, request: QLRequest, grant: object, user: User) -> Outcome:
    answer = server.create_authorization_response(request, grant_user=user, grant=grant)
    return Outcome("redirect", location=dict(answer.headers)["Location"])
