"""Authlib's authorization server, adapted to this service without any web framework: the
endpoints hand it a `HttpRequest` (body already read) and get an `Answer` back (status,
body, headers), in a worker thread with the request's unit of work open (Authlib is sync).

One `OAuthServer` per request: it carries that request's session, issuer, signing material
and client address, so nothing is shared between threads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    OAuth2Payload,
    OAuth2Request,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from quantumlock.identity.models import OAuthClient, OAuthGrant, ServiceAccount, User
from quantumlock.identity.oauth.service import (
    API_SCOPES,
    OAuthService,
    Party,
    join_scope,
    split_scope,
)
from quantumlock.identity.signing import SigningMaterial
from quantumlock.identity.tokens import ACCESS_TOKEN_TTL, encode_access_token, new_access_claims

ACCESS_TOKEN_ALG = "ES256"  # noqa: S105 - an algorithm name (RFC 9068 tokens: always)
DEFAULT_ID_TOKEN_ALG = "ES256"  # noqa: S105 - a client's id_token_signed_response_alg default
ID_TOKEN_TTL = 3600
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


class Headers(dict[str, str]):
    """Case-insensitive enough for Authlib (`headers.get("Authorization")`)."""

    def __init__(self, items: Mapping[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in items.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class HttpRequest:
    """What the web layer read: method, URL, headers, query and form (or JSON) fields."""

    method: str
    url: str
    headers: Mapping[str, str]
    args: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Answer:
    status: int
    body: Any
    headers: list[tuple[str, str]]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class QLRequest(OAuth2Request):  # type: ignore[misc]
    """Transport security is the deployment's (TLS at the edge, an https QL_ISSUER):
    Authlib's own check would refuse plain-http test servers and loopback set-ups."""

    def __init__(self, http: HttpRequest) -> None:
        super().__init__(method=http.method, uri="https://localhost/", headers=None)
        self.uri = http.url
        self.headers = Headers(http.headers)
        self.payload = _Payload([*http.args, *http.form])
        self._args = dict(http.args)
        self._form = dict(http.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Client(ClientMixin):  # type: ignore[misc]
    """An OAuth client or a service account, as Authlib asks about it."""

    def __init__(self, party: Party, service: OAuthService) -> None:
        self.party = party
        self.service = service

    @property
    def is_service_account(self) -> bool:
        return isinstance(self.party, ServiceAccount)

    @property
    def is_public(self) -> bool:
        return isinstance(self.party, OAuthClient) and self.party.kind == "public"

    def get_client_id(self) -> str:
        return self.party.id

    @property
    def id_token_alg(self) -> str:
        """Its registered `id_token_signed_response_alg` (a service account has no ID
        tokens; the default keeps the question answerable)."""
        if isinstance(self.party, OAuthClient):
            return self.party.id_token_signed_response_alg
        return DEFAULT_ID_TOKEN_ALG

    def get_default_redirect_uri(self) -> str | None:
        uris = self.party.redirect_uris if isinstance(self.party, OAuthClient) else []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        asked = split_scope(scope)
        if not asked:
            return ""  # the default is worked out once the user is known
        return join_scope(asked) if self.service.client_allows(self.party, asked) else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact match only (no prefix, no normalisation).
        return isinstance(self.party, OAuthClient) and redirect_uri in self.party.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.service.directory.check_secret(self.party.id, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        del endpoint
        if isinstance(self.party, ServiceAccount):
            return method in SECRET_METHODS
        registered = self.party.token_endpoint_auth_method
        if registered in SECRET_METHODS:
            return method in SECRET_METHODS  # either way of presenting the secret
        return method == registered

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type("authorization_code")

    def check_grant_type(self, grant_type: str) -> bool:
        if isinstance(self.party, ServiceAccount):
            return grant_type == "client_credentials"
        return grant_type in self.party.grant_types


@dataclass
class Context:
    """One request's world."""

    service: OAuthService
    issuer: str
    material: SigningMaterial
    grant: OAuthGrant | None = None  # the family the token being issued belongs to
    auth_time: int | None = None  # the signed-in session's, for a new code
    scope: str | None = None  # what the user approved (Authlib re-validates the request)


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ctx: Context) -> None:
        super().__init__(scopes_supported=[*sorted(API_SCOPES), "openid", "profile", "email",
                                           "offline_access"])  # fmt: skip
        self.ctx = ctx
        self.register_token_generator("default", self.generate_bearer_token)
        from quantumlock.identity.oauth import grants  # the grants name this module's types

        grants.register(self)

    @property
    def service(self) -> OAuthService:
        return self.ctx.service

    @property
    def token_endpoint(self) -> str:
        return self.ctx.issuer + "/oauth/token"

    # -- what Authlib asks of an integration
    def query_client(self, client_id: str) -> Client | None:
        party = self.service.directory.find(client_id) if isinstance(client_id, str) else None
        if party is None or not self.service.directory.is_active(party):
            return None
        return Client(party, self.service)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else QLRequest(request)

    def create_json_request(self, request: Any) -> Any:
        return self.create_oauth2_request(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer(status, body, list(headers or []))

    def handle_error_response(self, request: Any, error: Any) -> Answer:
        # One answer for every failed client authentication: 401 with WWW-Authenticate
        # (RFC 6749 §5.2; Authlib would answer 400 for some of them).
        if isinstance(error, InvalidClientError):
            error.status_code = 401
        elif isinstance(error, UnsupportedTokenTypeError):  # RFC 7009 §2.2.1: a §5.2 error
            error.status_code = 400
            error.auth_type = None
        return super().handle_error_response(request, error)  # type: ignore[no-any-return]

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        del name, args, kwargs

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Any:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            self._auth_failed(request, endpoint)
            raise

    def _auth_failed(self, request: OAuth2Request, endpoint: str) -> None:
        client_id, _ = extract_basic_authorization(request.headers)
        client_id = client_id or request.payload.client_id
        party = self.service.directory.find(client_id) if isinstance(client_id, str) else None
        if party is not None:  # an unknown id has no account to record it under
            self.service.event("token.client_auth_failed", party.account_id, party.id, party.id,
                               mode=party.mode, detail={"endpoint": endpoint})  # fmt: skip

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        grant = self.ctx.grant
        client: Client = request.client
        grant_type = request.payload.grant_type
        user = request.user
        self.service.event(
            "token.refresh" if grant_type == "refresh_token" else "token.grant",
            client.party.account_id,
            client.party.id,
            grant.id if grant else client.party.id,
            mode=client.party.mode,
            detail={
                "client_id": client.party.id,
                "user_id": user.id if isinstance(user, User) else None,
                "scope": token.get("scope", ""),
                "grant_type": grant_type,
            },
        )

    # -- tokens
    def generate_bearer_token(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        del expires_in
        party = client.party
        service = self.service
        if grant_type == "client_credentials":
            scopes = split_scope(scope) or service.default_scope(party, None)
            self.ctx.grant = service.create_grant(party, user_id=None, scope=join_scope(scopes))
        else:
            assert user is not None  # noqa: S101 - the grants authenticate the user first
            limits = (service.user_scopes(user), service.client_api_scopes(party))
            scopes = service.narrowed(split_scope(scope), *limits)
        grant = self.ctx.grant
        auth_time = grant.auth_time if grant is not None else None
        claims = new_access_claims(
            issuer=self.ctx.issuer,
            client_id=party.id,
            account_id=party.account_id,
            mode=party.mode,
            scope=tuple(join_scope(scopes).split()),
            user_id=user.id if user is not None else None,
            grant_id=grant.id if grant is not None else None,
            auth_time=int(auth_time.timestamp()) if auth_time else None,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": encode_access_token(claims, self.material_key(ACCESS_TOKEN_ALG)),
            "expires_in": ACCESS_TOKEN_TTL,
            "scope": join_scope(scopes),
        }
        if include_refresh_token and grant is not None and self._gets_refresh(client, scopes):
            token["refresh_token"] = service.issue_refresh(grant)
        return token

    def _gets_refresh(self, client: Client, scopes: list[str]) -> bool:
        """The README's rule: a client with the refresh_token grant type gets one when it is
        confidential or was granted offline_access."""
        if not client.check_grant_type("refresh_token"):
            return False
        return not client.is_public or "offline_access" in scopes

    def material_key(self, alg: str) -> Any:
        """The active signing key of `alg` (SigningKeyService.ensure makes one of each)."""
        return self.ctx.material.active[alg]

    def now(self) -> int:
        return int(time.time())
