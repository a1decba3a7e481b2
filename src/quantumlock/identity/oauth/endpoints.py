"""Every /oauth and /.well-known route: the Starlette side of the Authlib adapter.

Each route reads the body (already buffered by the middleware), then runs Authlib in a
worker thread inside the request's unit of work (Authlib and the database are sync) and
turns its `Answer` into a response. Errors here are OAuth's (`{"error",
"error_description"}`, RFC 6749 §5.2 / RFC 6750 §3), never the API's error body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import orjson
import structlog
from anyio import to_thread
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from quantumlock.core.clock import as_utc
from quantumlock.identity.oauth.authorize import Outcome, authorize
from quantumlock.identity.oauth.discovery import oauth_metadata, openid_metadata
from quantumlock.identity.oauth.keys import SigningKeys
from quantumlock.identity.oauth.schemas import (
    IntrospectionOut,
    JwksOut,
    MetadataOut,
    RevokedOut,
    TokenOut,
    TokenRequest,
    TokenTargetRequest,
    UserInfoOut,
    form_body,
    oauth_responses,
)
from quantumlock.identity.oauth.server import Answer, Context, HttpRequest, OAuthServer
from quantumlock.identity.oauth.service import Audit, OAuthService
from quantumlock.identity.oauth.userinfo import userinfo as userinfo_answer
from quantumlock.identity.pages import base_url, check_csrf, render, security_headers
from quantumlock.identity.users.endpoints import (
    SignedIn,
    login_url,
    signed_in,
)
from quantumlock.ratelimit.base import RateLimit
from quantumlock.runtime import Runtime
from quantumlock.web.errors import retry_after_seconds
from quantumlock.web.security import client_address, get_runtime

router = APIRouter(tags=["oauth"])
log = structlog.get_logger("quantumlock.oauth")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FIELDS = 50


@dataclass
class OAuthState:
    keys: SigningKeys


def state_of(request: Request) -> OAuthState:
    state: OAuthState = request.app.state.oauth
    return state


def issuer_of(request: Request) -> str:
    return base_url(request)


def error_response(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def to_response(answer: Answer) -> Response:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    if isinstance(answer.body, dict):
        return JSONResponse(answer.body, status_code=answer.status, headers={**NO_STORE, **headers})
    return Response(answer.body or b"", status_code=answer.status, headers=headers)


class BadRequest(Exception):
    def __init__(self, description: str) -> None:
        self.description = description


async def read_fields(request: Request, *, json_ok: bool = False) -> list[tuple[str, str]]:
    """The form fields (application/x-www-form-urlencoded), or a JSON object's string fields
    where `json_ok`. Raises BadRequest (400 invalid_request)."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if json_ok and kind == "application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise BadRequest("The JSON body must be an object of strings.")
        return list(data.items())
    if body and kind != "application/x-www-form-urlencoded":
        raise BadRequest("Send the parameters as application/x-www-form-urlencoded.")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form body is malformed.") from None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise BadRequest("Parameters must not contain NUL.")
    names = [k for k, _ in pairs]
    if len(names) != len(set(names)):  # RFC 6749 §3.2: no parameter more than once
        raise BadRequest("A parameter is repeated.")
    return pairs


def http_request(
    request: Request, form: list[tuple[str, str]] | None = None, *, query: bool = True
) -> HttpRequest:
    """`query=False` for the token, revocation and introspection endpoints: their parameters
    belong in the body only (RFC 6749 §3.2), never merged with (or overridden by) the URL's."""
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        args=list(request.query_params.multi_items()) if query else [],
        form=form or [],
    )


def in_unit_of_work(
    runtime: Runtime, keys: SigningKeys, issuer: str, address: str,
    work: Callable[[OAuthServer], Answer],
) -> Answer:  # fmt: skip
    """Runs in a worker thread: one unit of work, one server for this request."""
    material = keys.material()
    with runtime.unit_of_work() as session:
        service = OAuthService(session, runtime.hasher, runtime.sealer, Audit(address))
        server = OAuthServer(Context(service=service, issuer=issuer, material=material))
        try:
            return work(server)
        except (ValueError, TypeError, KeyError, UnicodeError) as exc:
            # Authlib refuses to describe some malformed values (quotes, non-ASCII).
            log.info("oauth_malformed_request", error=type(exc).__name__)
            return Answer(400, {"error": "invalid_request",
                                "error_description": "The request is malformed."}, [])  # fmt: skip


async def run(request: Request, work: Callable[[OAuthServer], Answer]) -> Answer:
    call = partial(
        in_unit_of_work,
        get_runtime(request),
        state_of(request).keys,
        issuer_of(request),
        client_address(request),
        work,
    )
    return await to_thread.run_sync(call)


def _client_id_of(request: Request, form: list[tuple[str, str]]) -> str | None:
    basic_id, _ = extract_basic_authorization(request.headers)
    return basic_id or dict(form).get("client_id")


async def _limit(request: Request, client_id: str | None) -> Response | None:
    runtime = get_runtime(request)
    settings = runtime.settings
    limit = RateLimit(settings.oauth_token_per_minute, settings.oauth_token_burst)
    buckets = [("oauth:token:addr:" + client_address(request), limit)]
    if client_id:
        buckets.append(("oauth:token:client:" + client_id[:64], limit))
    decision = await runtime.limiter.admit(buckets)
    if decision.allowed:
        return None
    runtime.metrics.rate_limited.labels("oauth_token").inc()
    wait = retry_after_seconds(decision.retry_after)
    return error_response(429, "temporarily_unavailable", "Too many token requests.",
                          {"Retry-After": str(wait)})  # fmt: skip


async def _fields(request: Request, *, json_ok: bool = False) -> list[tuple[str, str]] | Response:
    """The body's fields, or the error to answer: a malformed body, or the rate limit (per
    address and client) that every endpoint checking a client secret shares."""
    try:
        form = await read_fields(request, json_ok=json_ok)
    except BadRequest as bad:
        return error_response(400, "invalid_request", bad.description)
    return await _limit(request, _client_id_of(request, form)) or form


@router.post(
    "/oauth/token",
    summary="OAuth 2.0 token endpoint",
    response_model=TokenOut,
    responses=oauth_responses(400, 401, 429),
    openapi_extra=form_body(TokenRequest, json_too=True),
)
async def token(request: Request) -> Response:
    """Exchange an authorization code (with its PKCE `code_verifier`), a refresh token
    (rotated: the old one dies; presenting it again revokes the whole family) or client
    credentials for an access token (15 minutes). Client authentication: HTTP Basic,
    `client_id`/`client_secret` in the form (or, for client_credentials, a JSON object),
    `private_key_jwt` (`client_assertion`), or none for public clients. Answers carry
    `Cache-Control: no-store`; errors are RFC 6749 §5.2's."""
    if isinstance(form := await _fields(request, json_ok=True), Response):
        return form
    if not dict(form).get("grant_type"):
        return error_response(400, "invalid_request", "Missing 'grant_type'.")
    http = http_request(request, form, query=False)
    return to_response(await run(request, lambda server: server.create_token_response(http)))


@router.post(
    "/oauth/revoke",
    summary="Revoke a token (RFC 7009)",
    response_model=RevokedOut,
    responses=oauth_responses(400, 401, 429),
    openapi_extra=form_body(TokenTargetRequest),
)
async def revoke(request: Request) -> Response:
    """Revoke one of your own tokens: an access token (refused everywhere within a
    second) or a refresh token (its whole family, access tokens included). Client
    authentication is required. An unknown, expired or already revoked token is 200 too."""
    if isinstance(form := await _fields(request), Response):
        return form
    http = http_request(request, form, query=False)
    answer = await run(request, lambda s: s.create_endpoint_response("revocation", http))
    return to_response(answer)


@router.post(
    "/oauth/introspect",
    summary="Introspect a token (RFC 7662)",
    response_model=IntrospectionOut,
    responses=oauth_responses(400, 401, 429),
    openapi_extra=form_body(TokenTargetRequest),
)
async def introspect(request: Request) -> Response:
    """Whether a token is live, and its client, scope, subject and lifetime. Client
    authentication is required; a token of another account is `{"active": false}`."""
    if isinstance(form := await _fields(request), Response):
        return form
    http = http_request(request, form, query=False)
    answer = await run(request, lambda s: s.create_endpoint_response("introspection", http))
    return to_response(answer)


_USERINFO_DOC = dict(
    summary="The signed-in user's claims (OpenID Connect)",
    response_model=UserInfoOut,
    responses=oauth_responses(401, 403),
)


@router.get("/oauth/userinfo", **_USERINFO_DOC)  # type: ignore[arg-type]
async def userinfo(request: Request) -> Response:
    """`sub`, and `email`/`email_verified` (scope email) and `name` (scope profile), for
    `Authorization: Bearer <access token>` of a user token carrying `openid`. Errors per
    RFC 6750 with `WWW-Authenticate: Bearer`."""
    http = http_request(request)
    return to_response(await run(request, partial(userinfo_answer, http=http)))


@router.post("/oauth/userinfo", **_USERINFO_DOC)  # type: ignore[arg-type]
async def userinfo_post(request: Request) -> Response:
    """The same as GET (OIDC Core §5.3.1 allows both); the token goes in the
    `Authorization` header."""
    return await userinfo(request)


@router.get("/oauth/jwks", summary="The provider's public keys (JWKS)", response_model=JwksOut)
async def jwks(request: Request) -> Response:
    """Every key that verifies our ID tokens and access tokens, by `kid`: the active ES256
    and RS256 keys, and the previous ones until they are retired."""
    material = await to_thread.run_sync(state_of(request).keys.material)
    return JSONResponse(material.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/.well-known/openid-configuration",
    summary="OpenID Connect discovery document",
    response_model=MetadataOut,
)
async def openid_configuration(request: Request) -> Response:
    """OpenID Connect Discovery 1.0 provider metadata: endpoints, scopes, response and grant
    types, client authentication methods, PKCE methods (S256) and ID token algorithms."""
    return JSONResponse(dict(openid_metadata(issuer_of(request))))


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    response_model=MetadataOut,
)
async def oauth_authorization_server(request: Request) -> Response:
    """RFC 8414 metadata: the same endpoints and capabilities as the OpenID document."""
    return JSONResponse(dict(oauth_metadata(issuer_of(request))))


# ------------------------------------------------------------------ authorization endpoint


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def _authorize_in_thread(
    request: Request,
    http: HttpRequest,
    current: SignedIn | None,
    decision: Literal["approve", "deny"] | None,
) -> Outcome:
    runtime = get_runtime(request)
    material = state_of(request).keys.material()
    with runtime.unit_of_work() as session:
        service = OAuthService(
            session, runtime.hasher, runtime.sealer, Audit(client_address(request))
        )
        ctx = Context(service=service, issuer=issuer_of(request), material=material)
        user = None
        if current is not None:
            user = service.directory.user(current.user.id)
            ctx.auth_time = int(as_utc(current.session.created_at).timestamp())
        return authorize(OAuthServer(ctx), http, user, decision)


async def _authorize(
    request: Request, decision: Literal["approve", "deny"] | None = None
) -> Response:
    current = await signed_in(request)
    http = http_request(request)
    outcome = await to_thread.run_sync(_authorize_in_thread, request, http, current, decision)
    if outcome.kind == "error_page":
        status = 403 if outcome.error == "access_denied" else 400
        return render(request, "oauth_error.html", status_code=status, error=outcome.error,
                      description=outcome.description)  # fmt: skip
    if outcome.kind == "consent":
        assert current is not None  # noqa: S101 - consent is only asked of a signed-in user
        action = request.url.path + ("?" + request.url.query if request.url.query else "")
        origin = _origin(outcome.redirect_uri)
        return render(
            request,
            "oauth_consent.html",
            form_action_origins=[origin] if origin else [],
            client_name=outcome.client_name,
            email=current.user.email,
            scopes=outcome.scopes,
            action=action,
        )
    location = outcome.location
    if outcome.kind in ("login", "reauth"):
        location = login_url(outcome.location, reauth=outcome.kind == "reauth")
    response = RedirectResponse(location, status_code=303 if decision else 302)
    security_headers(response)
    return response


@router.get("/oauth/authorize", include_in_schema=False)
async def authorize_page(request: Request) -> Response:
    """The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): sign-in, consent,
    then back to the client's redirect URI with a code (or an error, once the client and
    its redirect URI are known good; before that, an error page)."""
    return await _authorize(request)


@router.post("/oauth/authorize", include_in_schema=False)
async def authorize_decision(request: Request) -> Response:
    """The consent form's answer (CSRF-checked): approve or deny."""
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception:  # a malformed body: an HTML 400, never a 500
        form = None
    if form is None or not check_csrf(request, form):
        return render(request, "oauth_error.html", status_code=400, error="invalid_request",
                      description="The form expired. Please start again.")  # fmt: skip
    decision = form.get("decision")
    if decision not in ("approve", "deny"):
        return render(request, "oauth_error.html", status_code=400, error="invalid_request",
                      description="Choose Allow or Deny.")  # fmt: skip
    return await _authorize(request, "approve" if decision == "approve" else "deny")
