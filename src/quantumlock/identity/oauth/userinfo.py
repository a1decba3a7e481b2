"""/oauth/userinfo (OIDC Core §5.3): the user of an access token carrying `openid`, its
errors per RFC 6750 §3 (401 invalid_token / 403 insufficient_scope, WWW-Authenticate)."""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError

from quantumlock.identity.oauth.grants import AccessToken, user_info
from quantumlock.identity.oauth.server import Answer, HttpRequest, OAuthServer, QLRequest
from quantumlock.identity.tokens import InvalidToken, decode_access_token, looks_like_jwt

REALM = "quantumlock"


class _UserTokens(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, server: OAuthServer) -> None:
        super().__init__(realm=REALM)
        self.server = server

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        if not looks_like_jwt(token_string):
            return None
        try:
            claims = decode_access_token(token_string, self.server.ctx.material.public)
        except InvalidToken:
            return None
        return AccessToken(claims, self.server)


def userinfo(server: OAuthServer, http: HttpRequest) -> Answer:
    request = QLRequest(http)
    protector = ResourceProtector()
    protector.register_token_validator(_UserTokens(server))
    try:
        scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidTokenError("Missing bearer access token.", realm=REALM)
        token: AccessToken = protector.validate_request(["openid"], request)
        directory = server.service.directory
        user_id = token.claims.user_id
        user = directory.user(user_id) if user_id else None
        if user is None or not directory.user_active(user):
            raise InvalidTokenError(realm=REALM)
        body = dict(user_info(user, " ".join(token.claims.scope)))
        return Answer(200, body, list(default_json_headers))
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
