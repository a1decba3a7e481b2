"""OAuth clients and service accounts: the rules (README, "OAuth clients and service accounts").

Both are identified by a client id (`client_…`, `service_…`) and authenticate with secrets
in `client_secrets` (stored only as keyed hashes, shown once). A client or service account
acts in the mode of the key that made it; a test key sees and manages only test-mode ones
(as with API keys, quantumlock.auth.service). The other identity parts use `find`,
`check_secret`, `is_active` and `allowed_scopes`; a disable, enable, delete, scope change or
secret revocation is recorded as `CHANGE_KIND_OAUTH_CLIENT` / `CHANGE_KIND_SERVICE_ACCOUNT`
(ref = client id) so every node's caches hear of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import sort_scopes
from quantumlock.core.clock import as_utc, isoformat
from quantumlock.core.errors import Conflict, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.identity.clients.core import (
    CHANGE_KIND_OAUTH_CLIENT,
    CHANGE_KIND_SERVICE_ACCOUNT,
    DEFAULT_GRACE_SECONDS,
    ID_LENGTH,
    MAX_GRACE_SECONDS,
    MAX_LIVE_SECRETS,
    MAX_OAUTH_CLIENTS,
    MAX_SERVICE_ACCOUNTS,
    OAUTH_CLIENT_PREFIX,
    SECRET_METHODS,
    SERVICE_ACCOUNT_PREFIX,
    ClientCore,
    IdentityClient,
    IssuedClient,
    Kind,
    RotatedSecret,
    change_kind,
    kind_of,
)
from quantumlock.identity.clients.validation import (
    DEFAULT_ID_TOKEN_ALG,
    api_scopes_within,
    client_scopes_within,
    grant_types_of,
    id_token_alg_of,
    jwks_of,
    redirect_uris_of,
)
from quantumlock.identity.models import OAuthClient, ServiceAccount

__all__ = [
    "CHANGE_KIND_OAUTH_CLIENT",
    "CHANGE_KIND_SERVICE_ACCOUNT",
    "DEFAULT_GRACE_SECONDS",
    "MAX_GRACE_SECONDS",
    "ClientService",
    "IdentityClient",
    "IssuedClient",
    "Kind",
    "RotatedSecret",
    "kind_of",
]


_R = TypeVar("_R", OAuthClient, ServiceAccount)
MAX_NAME = 100  # the column's length


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationFailed(f"name: 1 to {MAX_NAME} characters.", field="name")


class ClientService(ClientCore):
    """`find`, `check_secret`, `is_active`, `allowed_scopes` (ClientCore) and management."""

    # -- creating ---------------------------------------------------------------------------

    def create_service_account(
        self,
        caller: Principal,
        *,
        name: str,
        scopes: Sequence[str],
        mode: str | None = None,
        address: str | None = None,
    ) -> IssuedClient:
        """A service account with `scopes` (never more than the caller holds) and a secret."""
        _check_name(name)
        if not scopes:
            raise ValidationFailed("scopes: give at least one scope.", field="scopes")
        granted = api_scopes_within(scopes, caller.scopes)
        self._check_admin_grant(caller, sort_scopes(granted))
        acting = self._mode(caller, mode)
        if self.repo.count(ServiceAccount, caller.account_id) >= MAX_SERVICE_ACCOUNTS:
            raise Conflict(
                f"This account has {MAX_SERVICE_ACCOUNTS} service accounts, the most it may "
                "have: delete one first."
            )
        now = self.clock()
        row = ServiceAccount(
            id=new_id(SERVICE_ACCOUNT_PREFIX[:-1], ID_LENGTH),
            account_id=caller.account_id,
            mode=acting,
            name=name,
            scopes=sort_scopes(granted),
            status="active",
            created_at=now,
            updated_at=now,
        )
        self.repo.add(row)
        secret = self._new_secret(row, now)
        self._event(caller, row, "create", address, {"name": name, "scopes": row.scopes})
        self.session.flush()
        return IssuedClient(row, secret)

    def create_oauth_client(
        self,
        caller: Principal,
        *,
        name: str,
        kind: str = "confidential",
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        token_endpoint_auth_method: str | None = None,
        jwks: dict[str, Any] | None = None,
        mode: str | None = None,
        id_token_signed_response_alg: str | None = None,
        address: str | None = None,
    ) -> IssuedClient:
        """A relying party. Confidential clients get a secret (shown once) unless they
        authenticate with `private_key_jwt`; public clients use PKCE and no secret."""
        _check_name(name)
        if kind not in ("confidential", "public"):
            raise ValidationFailed("kind: must be confidential or public.", field="kind")
        method = token_endpoint_auth_method or (
            "client_secret_basic" if kind == "confidential" else "none"
        )
        if kind == "public" and method != "none":
            raise ValidationFailed(
                "token_endpoint_auth_method: a public client must use none.",
                field="token_endpoint_auth_method",
            )
        if kind == "confidential" and method not in (*SECRET_METHODS, "private_key_jwt"):
            raise ValidationFailed(
                "token_endpoint_auth_method: a confidential client uses client_secret_basic, "
                "client_secret_post or private_key_jwt.",
                field="token_endpoint_auth_method",
            )
        grants = grant_types_of(
            list(grant_types) if grant_types is not None else ["authorization_code"], kind=kind
        )
        uris = redirect_uris_of(list(redirect_uris))
        self._check_redirects(grants, uris)
        checked_jwks = self._jwks_for(method, jwks)
        id_alg = id_token_alg_of(id_token_signed_response_alg or DEFAULT_ID_TOKEN_ALG)
        allowed = client_scopes_within(
            list(scopes) if scopes is not None else ["openid"], caller.scopes
        )
        self._check_admin_grant(caller, allowed)
        acting = self._mode(caller, mode)
        if self.repo.count(OAuthClient, caller.account_id) >= MAX_OAUTH_CLIENTS:
            raise Conflict(
                f"This account has {MAX_OAUTH_CLIENTS} OAuth clients, the most it may have: "
                "delete one first."
            )
        now = self.clock()
        row = OAuthClient(
            id=new_id(OAUTH_CLIENT_PREFIX[:-1], ID_LENGTH),
            account_id=caller.account_id,
            mode=acting,
            name=name,
            kind=kind,
            redirect_uris=uris,
            grant_types=grants,
            scopes=allowed,
            token_endpoint_auth_method=method,
            jwks=checked_jwks,
            id_token_signed_response_alg=id_alg,
            status="active",
            created_at=now,
            updated_at=now,
        )
        self.repo.add(row)
        secret = self._new_secret(row, now) if method in SECRET_METHODS else None
        detail = {
            "name": name,
            "kind": kind,
            "grant_types": grants,
            "scopes": allowed,
            "redirect_uris": uris,
            "token_endpoint_auth_method": method,
            "id_token_signed_response_alg": id_alg,
        }
        self._event(caller, row, "create", address, detail)
        self.session.flush()
        return IssuedClient(row, secret)

    @staticmethod
    def _check_redirects(grants: Sequence[str], uris: Sequence[str]) -> None:
        if "authorization_code" in grants and not uris:
            raise ValidationFailed(
                "redirect_uris: authorization_code needs at least one redirect URI.",
                field="redirect_uris",
            )

    @staticmethod
    def _jwks_for(method: str, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if method == "private_key_jwt":
            if jwks is None:
                raise ValidationFailed(
                    "jwks: private_key_jwt needs the client's public keys (a JWK set; no "
                    "jwks_uri: the server fetches nothing).",
                    field="jwks",
                )
            return jwks_of(jwks)
        if jwks is not None:
            raise ValidationFailed("jwks: only for private_key_jwt clients.", field="jwks")
        return None

    # -- changing ---------------------------------------------------------------------------

    def update_service_account(
        self,
        caller: Principal,
        client_id: str,
        *,
        name: str | None = None,
        scopes: Sequence[str] | None = None,
        address: str | None = None,
    ) -> ServiceAccount:
        """Rename it or set its scopes (never more than the caller holds); None: unchanged.
        New scopes apply at once to the tokens it already holds (bearer narrows them)."""
        row = self.visible(caller, "service_account", client_id)
        assert isinstance(row, ServiceAccount)  # noqa: S101 - visible() checked the kind
        detail: dict[str, Any] = {}
        if scopes is not None:
            if not scopes:
                raise ValidationFailed("scopes: give at least one scope.", field="scopes")
            wanted = sort_scopes(api_scopes_within(scopes, caller.scopes))
            if wanted != list(row.scopes):
                self._check_admin_grant(caller, wanted)
                detail["scopes"] = {"from": list(row.scopes), "to": wanted}
                row.scopes = wanted
                record_change(self.session, CHANGE_KIND_SERVICE_ACCOUNT, row.id)
        if name is not None and name != row.name:
            _check_name(name)
            detail["name"] = {"from": row.name, "to": name}
            row.name = name
        return self._updated(caller, row, detail, address)

    def update_oauth_client(
        self,
        caller: Principal,
        client_id: str,
        *,
        name: str | None = None,
        redirect_uris: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        grant_types: Sequence[str] | None = None,
        jwks: dict[str, Any] | None = None,
        id_token_signed_response_alg: str | None = None,
        address: str | None = None,
    ) -> OAuthClient:
        """Change what a client may do; None leaves a field as it is. The same rules as on
        creation; scopes and grant types take effect at once on every node."""
        row = self.visible(caller, "oauth_client", client_id)
        assert isinstance(row, OAuthClient)  # noqa: S101 - visible() checked the kind
        detail: dict[str, Any] = {}
        grants = list(row.grant_types)
        if grant_types is not None:
            grants = grant_types_of(list(grant_types), kind=row.kind)
        uris = redirect_uris_of(list(redirect_uris)) if redirect_uris is not None else None
        self._check_redirects(grants, uris if uris is not None else row.redirect_uris)
        announce = False  # a change the provider and the bearer must hear of at once
        if grants != list(row.grant_types):
            detail["grant_types"] = {"from": list(row.grant_types), "to": grants}
            announce = True
            row.grant_types = grants
        if uris is not None and uris != list(row.redirect_uris):
            detail["redirect_uris"] = {"from": list(row.redirect_uris), "to": uris}
            row.redirect_uris = uris
        if scopes is not None:
            allowed = client_scopes_within(list(scopes), caller.scopes)
            if allowed != list(row.scopes):
                self._check_admin_grant(caller, allowed)
                detail["scopes"] = {"from": list(row.scopes), "to": allowed}
                announce = True
                row.scopes = allowed
        if jwks is not None:
            checked = self._jwks_for(row.token_endpoint_auth_method, jwks)
            if checked != row.jwks:
                detail["jwks"] = "replaced"
                announce = True
                row.jwks = checked
        if name is not None and name != row.name:
            _check_name(name)
            detail["name"] = {"from": row.name, "to": name}
            row.name = name
        # The provider reads the row at each token request: no cache to tell.
        alg = id_token_signed_response_alg
        if alg is not None and id_token_alg_of(alg) != row.id_token_signed_response_alg:
            detail["id_token_signed_response_alg"] = {
                "from": row.id_token_signed_response_alg, "to": alg}  # fmt: skip
            row.id_token_signed_response_alg = alg
        if announce:
            record_change(self.session, CHANGE_KIND_OAUTH_CLIENT, row.id)
        return self._updated(caller, row, detail, address)

    def _updated(
        self, caller: Principal, row: _R, detail: dict[str, Any], address: str | None
    ) -> _R:
        if detail:
            row.updated_at = self.clock()
            self._event(caller, row, "update", address, detail)
        self.session.flush()
        return row

    def rotate_secret(
        self,
        caller: Principal,
        kind: Kind,
        client_id: str,
        *,
        grace_period: int | None = None,
        address: str | None = None,
    ) -> RotatedSecret:
        """A new secret (shown once). The working ones keep working for `grace_period`
        seconds (default 24 h, at most 7 days; never longer than they already would);
        0 revokes them now."""
        grace = DEFAULT_GRACE_SECONDS if grace_period is None else grace_period
        if not 0 <= grace <= MAX_GRACE_SECONDS:
            raise ValidationFailed(
                f"grace_period: 0 to {MAX_GRACE_SECONDS} seconds (7 days).", field="grace_period"
            )
        row = self.visible(caller, kind, client_id)
        # A new secret of an admin credential is that credential: owner-only, like making one.
        self._check_admin_grant(caller, row.scopes)
        if isinstance(row, OAuthClient) and row.token_endpoint_auth_method not in SECRET_METHODS:
            raise Conflict(
                f"OAuth client {row.id} has no secret "
                f"(token_endpoint_auth_method {row.token_endpoint_auth_method})."
            )
        now = self.clock()
        old = self.repo.live_secrets([row.id], now)
        if grace and len(old) >= MAX_LIVE_SECRETS:
            raise Conflict(
                f"{len(old)} secrets of {row.id} still work: rotate with grace_period 0 to "
                "end them first."
            )
        end = now + timedelta(seconds=grace)
        for secret in old:
            if grace == 0:
                secret.revoked_at = now
            elif secret.expires_at is None or as_utc(secret.expires_at) > end:
                secret.expires_at = end
        if grace == 0 and old:
            record_change(self.session, change_kind(kind), row.id)
        new_secret = self._new_secret(row, now)
        previous = None if grace == 0 or not old else end
        detail = {"grace_period": grace, "previous_secrets_expire_at": isoformat(previous)}
        self._event(caller, row, "rotate_secret", address, detail)
        self.session.flush()
        return RotatedSecret(row, new_secret, previous)

    def set_status(
        self,
        caller: Principal,
        kind: Kind,
        client_id: str,
        *,
        active: bool,
        address: str | None = None,
    ) -> IdentityClient:
        """Disable (its secrets and tokens are refused, on every node within a second) or
        enable again. Doing it twice changes nothing and records nothing."""
        row = self.visible(caller, kind, client_id)
        status = "active" if active else "disabled"
        if row.status != status:
            now = self.clock()
            row.status = status
            row.disabled_at = None if active else now
            row.updated_at = now
            self._event(caller, row, "enable" if active else "disable", address)
            record_change(self.session, change_kind(kind), row.id)
            self.session.flush()
        return row

    def delete(
        self, caller: Principal, kind: Kind, client_id: str, *, address: str | None = None
    ) -> None:
        """Gone for good, with its secrets; its tokens are refused from now on."""
        row = self.visible(caller, kind, client_id)
        self._event(caller, row, "delete", address, {"name": row.name})
        record_change(self.session, change_kind(kind), row.id)
        self.repo.delete(row)
        self.session.flush()
