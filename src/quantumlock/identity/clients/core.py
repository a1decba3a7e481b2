"""What every part of OAuth clients and service accounts shares: ids, kinds, secrets, lookup.

`quantumlock.identity.clients.service` is the public face (ClientService); this module is
its base, kept apart so each file stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy.orm import Session

from quantumlock.auth.keys import Mode
from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope, expand, parse_scopes
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import InsufficientScope, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.db.pagination import Page
from quantumlock.identity.clients.repository import ClientRepository
from quantumlock.identity.clients.validation import OIDC_SCOPES
from quantumlock.identity.events import IdentityEventType, record_event
from quantumlock.identity.models import ClientSecret, OAuthClient, ServiceAccount
from quantumlock.identity.secrets import display_prefix, generate_client_secret, is_client_secret
from quantumlock.keyring.hasher import KeyHasher

CHANGE_KIND_OAUTH_CLIENT = "oauth_client"
CHANGE_KIND_SERVICE_ACCOUNT = "service_account"
OAUTH_CLIENT_PREFIX = "client_"
SERVICE_ACCOUNT_PREFIX = "service_"
ID_LENGTH = 24

DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600
# Per account (both modes together): generous, and a bound on what one tenant can store.
MAX_OAUTH_CLIENTS = 100
MAX_SERVICE_ACCOUNTS = 100
# A secret in its grace period still works: rotating again and again must not pile them up.
MAX_LIVE_SECRETS = 5

Kind = Literal["oauth_client", "service_account"]
IdentityClient = OAuthClient | ServiceAccount
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
_NOUNS: dict[Kind, str] = {"oauth_client": "OAuth client", "service_account": "service account"}


@dataclass(frozen=True, slots=True)
class IssuedClient:
    row: IdentityClient
    secret: str | None  # shown once (None: public and private_key_jwt clients have none)


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    row: IdentityClient
    secret: str  # the new one, shown once
    previous_expires_at: datetime | None  # when the old secrets stop working; None: now


def kind_of(row: IdentityClient) -> Kind:
    return "oauth_client" if isinstance(row, OAuthClient) else "service_account"


def change_kind(kind: Kind) -> str:
    return CHANGE_KIND_OAUTH_CLIENT if kind == "oauth_client" else CHANGE_KIND_SERVICE_ACCOUNT


class ClientCore:
    def __init__(
        self, session: Session, hasher: KeyHasher, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.hasher = hasher
        self.repo = ClientRepository(session)
        self.clock = clock

    # -- what the provider and the bearer check ---------------------------------------------

    def find(self, client_id: str) -> OAuthClient | ServiceAccount | None:
        """The OAuth client or service account with this id, any status, any account."""
        if not isinstance(client_id, str) or len(client_id) > 40:
            return None
        if client_id.startswith(OAUTH_CLIENT_PREFIX):
            return self.repo.get_client(client_id)
        if client_id.startswith(SERVICE_ACCOUNT_PREFIX):
            return self.repo.get_service_account(client_id)
        return None

    def check_secret(self, client_id: str, secret: str) -> bool:
        """Whether `secret` is a working secret of `client_id`: a malformed one (a typo, a
        wrong checksum) is refused without a lookup; an expired or revoked one fails."""
        if not isinstance(secret, str) or not is_client_secret(secret):
            return False
        if not isinstance(client_id, str) or len(client_id) > 40:
            return False
        return self.repo.usable_secret(client_id, self.hasher.digest(secret), self.clock())

    @staticmethod
    def is_active(row: IdentityClient) -> bool:
        return row.status == "active"

    @staticmethod
    def allowed_scopes(row: IdentityClient) -> frozenset[Scope]:
        """The API scopes its tokens may carry, implied ones included (OIDC scopes apart)."""
        return expand(parse_scopes(s for s in row.scopes if s not in OIDC_SCOPES))

    @staticmethod
    def oidc_scopes(row: IdentityClient) -> frozenset[str]:
        """The OpenID Connect scopes an OAuth client may ask for (none for a service account)."""
        return frozenset(s for s in row.scopes if s in OIDC_SCOPES)

    @staticmethod
    def _mode(caller: Principal, mode: str | None) -> str:
        if mode is None:
            return caller.mode.value
        if mode not in (Mode.LIVE.value, Mode.TEST.value):
            raise ValidationFailed("mode: must be live or test.", field="mode")
        if mode == Mode.LIVE.value and caller.is_test:
            raise InsufficientScope("A test-mode key cannot create live-mode clients.")
        return mode

    def _check_admin_grant(self, caller: Principal, scopes: Sequence[str]) -> None:
        """A user's token below owner cannot hand out `admin`: a credential holding it acts
        for the account as an owner would (users' RANK rule), so an admin could otherwise
        demote or delete the owners that rule protects from them."""
        if Scope.ADMIN.value in scopes and not caller.grants_admin:
            raise InsufficientScope("Only an owner can grant the admin scope.")

    def _new_secret(self, row: IdentityClient, now: datetime) -> str:
        secret = generate_client_secret()
        self.repo.add(
            ClientSecret(
                id=new_id("csec"),
                owner_id=row.id,
                account_id=row.account_id,
                secret_hash=self.hasher.digest(secret),
                prefix=display_prefix(secret),
                created_at=now,
            )
        )
        return secret

    def _event(
        self,
        caller: Principal,
        row: IdentityClient,
        verb: str,
        address: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The audit event `<kind>.<verb>` (identity.events): never a secret in `detail`."""
        record_event(
            self.session,
            account_id=row.account_id,
            action=cast(IdentityEventType, f"{kind_of(row)}.{verb}"),
            actor_id=caller.key_id,
            object_id=row.id,
            mode=row.mode,
            address=address,
            detail=detail,
        )

    # -- reading ----------------------------------------------------------------------------

    def visible(self, caller: Principal, kind: Kind, client_id: str) -> IdentityClient:
        """One of the caller's account: 404 for another account's, the other kind's, and a
        live-mode one asked for by a test key (as API keys, quantumlock.auth.service)."""
        row = self.find(client_id)
        if (
            row is None
            or kind_of(row) != kind
            or row.account_id != caller.account_id
            or (caller.is_test and row.mode != Mode.TEST.value)
        ):
            raise NotFound(f"No {_NOUNS[kind]} {client_id[:64]!r}.")
        return row

    def page(
        self, caller: Principal, kind: Kind, *, cursor: str | None, limit: int
    ) -> Page[IdentityClient]:
        """Newest first; `cursor` is the previous page's `next_cursor`."""
        after = None
        if cursor is not None:
            try:
                after = self.visible(caller, kind, cursor)
            except NotFound:
                raise ValidationFailed("cursor: unknown cursor.", field="cursor") from None
        table = OAuthClient if kind == "oauth_client" else ServiceAccount
        mode = Mode.TEST.value if caller.is_test else None
        return self.repo.page(table, caller.account_id, mode=mode, after=after, limit=limit)

    def live_secrets(self, rows: Sequence[IdentityClient]) -> dict[str, list[ClientSecret]]:
        """Each row's working secrets (prefix and dates only are ever shown), newest first."""
        out: dict[str, list[ClientSecret]] = {row.id: [] for row in rows}
        for secret in self.repo.live_secrets([row.id for row in rows], self.clock()):
            out[secret.owner_id].append(secret)
        return out
