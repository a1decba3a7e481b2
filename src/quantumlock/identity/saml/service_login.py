"""Signing in and out with SAML: begin an SP-initiated login, consume the ACS's response
(request matching, replay, user lookup, just-in-time provisioning, group mapping, session),
and single logout. Rules only: the endpoints own HTTP and the transaction; this only flushes.

A refusal is raised as `SamlRefusal` (reason code, quantumlock.identity.saml.protocol) so the
endpoint rolls the sign-in back and audits the failure in a transaction of its own
(`record_failure`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import structlog
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.core.clock import utcnow
from quantumlock.identity.events import record_event
from quantumlock.identity.models import SamlAssertionId, SamlConnection, SamlRequest, User
from quantumlock.identity.roles import RANK, Role
from quantumlock.identity.saml import protocol
from quantumlock.identity.saml.keys import open_sp_key
from quantumlock.identity.saml.presets import Attributes
from quantumlock.identity.saml.protocol import SamlRefusal
from quantumlock.identity.saml.repository_protocol import SamlProtocolRepository
from quantumlock.identity.saml.urls import sp_urls
from quantumlock.identity.users.service import UserService
from quantumlock.identity.users.service_base import checked_email
from quantumlock.keyring.sealing import Sealer

log = structlog.get_logger(__name__)

REQUEST_TTL = timedelta(minutes=10)
VIA = "saml"


class SamlConfig(Protocol):
    """What this part uses of the configuration part's SamlConfigService."""

    def get(self, account_id: str) -> SamlConnection | None: ...

    def effective_attributes(self, conn: SamlConnection) -> Attributes: ...


@dataclass(frozen=True, slots=True)
class SignedInWithSaml:
    user: User
    session_token: str
    relay_state: str
    provisioned: bool
    idp_initiated: bool


@dataclass(frozen=True, slots=True)
class LogoutStep:
    """Where the browser goes after a local sign-out: the IdP (signed LogoutRequest) or
    the sign-in page."""

    location: str
    to_idp: bool


def assertion_key(account_id: str, assertion_id: str) -> str:
    """The replay key: the account and the assertion ID, hashed (fixed length, and IDs from
    two IdPs never collide)."""
    return hashlib.sha256(f"{account_id}\x1f{assertion_id}".encode()).hexdigest()


def binding_value(users: UserService, account_id: str, request_id: str) -> str:
    """The browser binding of an AuthnRequest: a keyed digest (the server's pepper) of the
    account and request ID, set as a cookie by the browser that started the sign-in. Not
    stored: the ACS recomputes it for the request the response answers."""
    raw = users.hasher.digest(f"saml-binding\x1f{account_id}\x1f{request_id}")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def best_role(groups: list[str], group_roles: dict[str, str]) -> str | None:
    """The highest-ranked role any of the groups maps to (never owner), or None."""
    found: str | None = None
    for group in groups:
        role = group_roles.get(group)
        if role is None or role == Role.OWNER.value or role not in {r.value for r in Role}:
            continue
        if found is None or RANK[Role(role)] > RANK[Role(found)]:
            found = role
    return found


class SamlLoginService:
    def __init__(
        self,
        session: Session,
        sealer: Sealer,
        users: UserService,
        config: SamlConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.sealer = sealer
        self.users = users
        self.config = config
        self.repo = SamlProtocolRepository(session)
        self.clock = clock

    # -- connection and settings ----------------------------------------------------------------

    def connection(self, account_id: str, *, enabled: bool = True) -> SamlConnection:
        """The account's connection; refused `no_connection`, or `connection_disabled`."""
        conn = self.config.get(account_id)
        if conn is None:
            raise SamlRefusal("no_connection", "This account has no single sign-on.")
        if enabled and not conn.enabled:
            raise SamlRefusal("connection_disabled", "Single sign-on is turned off.")
        return conn

    def settings(self, conn: SamlConnection, base_url: str, **kw: bool) -> dict[str, Any]:
        return protocol.settings_for(
            conn, sp_private_key=open_sp_key(self.sealer, conn), base_url=base_url, **kw
        )

    def metadata(self, account_id: str, base_url: str) -> str:
        """The SP metadata XML of the account's connection, signed."""
        conn = self.connection(account_id, enabled=False)
        return protocol.sp_metadata(self.settings(conn, base_url, for_metadata=True))

    # -- SP-initiated login ---------------------------------------------------------------------

    def begin_login(self, account_id: str, base_url: str, relay_state: str) -> tuple[str, str]:
        """The IdP URL with a signed AuthnRequest, and the request's browser binding
        (`binding_value`); the request is stored (10 min, one use) with the local path to
        come back to."""
        conn = self.connection(account_id)
        urls = sp_urls(base_url, account_id)
        redirect = protocol.authn_request(
            self.settings(conn, base_url), base_url, urls, relay_state
        )
        if not redirect.request_id:
            raise SamlRefusal("malformed", "No AuthnRequest ID.")
        now = self.clock()
        self.repo.purge_requests(now)
        self.repo.add_request(
            SamlRequest(
                id=redirect.request_id,
                account_id=account_id,
                relay_state=relay_state,
                created_at=now,
                expires_at=now + REQUEST_TTL,
            )
        )
        self.session.flush()
        return redirect.url, binding_value(self.users, account_id, redirect.request_id)

    # -- the ACS -------------------------------------------------------------------------------

    def consume(
        self,
        account_id: str,
        base_url: str,
        post: dict[str, str],
        *,
        relay_from_post: Callable[[str | None], str],
        address: str | None,
        user_agent: str | None,
        bindings: Collection[str] | None = None,
    ) -> SignedInWithSaml:
        """Check the POSTed response and sign the user in. `relay_from_post` makes the
        POSTed RelayState safe (IdP-initiated only; SP-initiated uses the stored one).
        `bindings`: the browser's binding values (its cookie) when sign-ins are bound to
        the browser that started them (https), None when not (plain http): an
        SP-initiated response is then only accepted from the browser that asked for it
        (login CSRF: an attacker's own genuine response posted from a victim's browser)."""
        conn = self.connection(account_id)
        urls = sp_urls(base_url, account_id)
        data = protocol.request_data(base_url, urlsplit(urls.acs).path, post=post)
        assertion = protocol.check_response(
            self.settings(conn, base_url), data, skew_seconds=conn.clock_skew_seconds
        )
        now = self.clock()
        # Skew, on our clock too (python3-saml reads the system's).
        self._check_expiry(assertion, conn, now)
        # The replay first: a response used once is reported as a replay (not as an answer
        # to a spent request). Both writes are conditional and roll back together.
        self._refuse_replay(conn, assertion, now)
        relay, idp_initiated = self._match_request(
            conn, assertion, post, relay_from_post, now, bindings
        )
        user, provisioned = self._user_for(conn, assertion, address)
        user.last_login_at = now
        _row, token = self.users.start_session(
            user,
            method="sso",
            mfa=False,
            address=address,
            user_agent=user_agent,
            sso_name_id=assertion.name_id[:512],
            sso_session_index=assertion.session_index,
        )
        detail: dict[str, Any] = {
            "name_id": assertion.name_id[:512],
            "idp_initiated": idp_initiated,
            "role": user.role,
            "provisioned": provisioned,
        }
        if assertion.session_index:
            detail["session_index"] = assertion.session_index
        record_event(
            self.session,
            account_id=account_id,
            action="saml.login",
            actor_id=user.id,
            object_id=user.id,
            address=address,
            detail=detail,
        )
        self.session.flush()
        return SignedInWithSaml(user, token, relay, provisioned, idp_initiated)

    def _check_expiry(
        self, assertion: protocol.Assertion, conn: SamlConnection, now: datetime
    ) -> None:
        end = assertion.not_on_or_after
        if end is not None and end + timedelta(seconds=conn.clock_skew_seconds) <= now:
            raise SamlRefusal("expired", "The assertion has expired.")

    def _match_request(
        self,
        conn: SamlConnection,
        assertion: protocol.Assertion,
        post: dict[str, str],
        relay_from_post: Callable[[str | None], str],
        now: datetime,
        bindings: Collection[str] | None,
    ) -> tuple[str, bool]:
        """SP-initiated: InResponseTo names this account's unused, unexpired request, spent
        here (conditional UPDATE). IdP-initiated (no trusted InResponseTo): only when the
        connection allows it; the POSTed RelayState then, made safe."""
        irt = assertion.in_response_to
        if irt is None:
            if not conn.allow_idp_initiated:
                raise SamlRefusal(
                    "idp_initiated_not_allowed", "Sign-ins started at the IdP are not allowed."
                )
            return relay_from_post(post.get("RelayState")), True
        request = (
            self.repo.live_request(conn.account_id, irt, now)
            if len(irt) <= protocol.MAX_ID
            else None
        )
        if (
            request is not None
            and bindings is not None
            and binding_value(self.users, conn.account_id, irt) not in bindings
        ):
            raise SamlRefusal(
                "unknown_request",
                "The response answers a sign-in started in another browser.",
                request=irt[:100],
                binding="missing",
            )
        if request is None or not self.repo.spend_request(conn.account_id, irt, now):
            raise SamlRefusal(
                "unknown_request",
                "The response answers no sign-in started here.",
                request=irt[:100],
            )
        return request.relay_state, False

    def _refuse_replay(
        self, conn: SamlConnection, assertion: protocol.Assertion, now: datetime
    ) -> None:
        skew = timedelta(seconds=conn.clock_skew_seconds)
        end = assertion.not_on_or_after or now
        self._spend_once(
            conn, assertion.assertion_id, end + skew, "This assertion was used already."
        )

    def _user_for(
        self, conn: SamlConnection, assertion: protocol.Assertion, address: str | None
    ) -> tuple[User, bool]:
        attributes = self.config.effective_attributes(conn)
        email_attr = attributes.email or None
        raw = _first(assertion.attributes.get(email_attr)) if email_attr else assertion.name_id
        try:
            email = checked_email(raw or "")
        except Exception:
            raise SamlRefusal("no_email", "The identity provider sent no email address.") from None
        groups = assertion.attributes.get(attributes.groups, []) if attributes.groups else []
        mapped = best_role(groups, dict(conn.group_roles or {}))
        user = self.users.repo.by_email(email)
        if user is not None and user.account_id != conn.account_id:
            raise SamlRefusal(
                "email_in_use", "This address belongs to another account.", email=email
            )
        if user is None:
            if not conn.jit_provisioning:
                raise SamlRefusal("not_provisioned", "No user with this address.", email=email)
            name = _first(assertion.attributes.get(attributes.name)) if attributes.name else None
            role = mapped or conn.default_role
            if role == Role.OWNER.value:  # never from SSO, whatever the configuration says
                role = Role.MEMBER.value
            created = self.users.provision(
                conn.account_id,
                email=email,
                name=name or "",
                role=role,
                actor_id=conn.id,
                via=VIA,
                address=address,
            )
            if created is not None:
                return created, True
            # A concurrent sign-in made them a moment ago: go on with that user.
            user = self.users.repo.by_email(email)
            if user is None or user.account_id != conn.account_id:
                raise SamlRefusal("email_in_use", "This address is taken.", email=email)
        if not self.users.is_active(user):
            raise SamlRefusal("user_disabled", "This user is disabled.", email=email)
        if mapped is not None:
            self.users.set_role_by(user, mapped, actor_id=conn.id, via=VIA, address=address)
        return user, False

    # -- single logout --------------------------------------------------------------------------

    def logout(
        self,
        account_id: str,
        base_url: str,
        *,
        session_id: str | None,
        address: str | None,
    ) -> LogoutStep:
        """End the local session; an SSO session of this account whose IdP has an SLO URL
        goes on to the IdP with a signed LogoutRequest (its NameID and SessionIndex)."""
        row = self.users.repo.session_by_id(session_id) if session_id else None
        if row is None:
            return LogoutStep("/login", False)
        self.users.logout(row.id, address=address)
        conn = self.config.get(account_id)
        if (
            conn is None
            or not conn.enabled
            or not conn.idp_slo_url
            or row.account_id != account_id
            or row.method != "sso"
            or not row.sso_name_id
        ):
            return LogoutStep("/login", False)
        urls = sp_urls(base_url, account_id)
        try:
            redirect = protocol.logout_request(
                self.settings(conn, base_url),
                base_url,
                urls,
                name_id=row.sso_name_id,
                session_index=row.sso_session_index,
                relay="/login",
            )
        except Exception:  # the local sign-out stands even if the IdP's cannot be asked
            log.warning("saml_logout_request_failed", account_id=account_id)
            return LogoutStep("/login", False)
        record_event(
            self.session,
            account_id=account_id,
            action="saml.logout",
            actor_id=row.user_id,
            object_id=row.user_id,
            address=address,
            detail={"initiated_by": "sp", "session_id": row.id},
        )
        self.session.flush()
        return LogoutStep(redirect.url, True)

    def single_logout(
        self,
        account_id: str,
        base_url: str,
        query: dict[str, str],
        raw_query: str,
        *,
        address: str | None,
    ) -> LogoutStep:
        """The IdP's LogoutRequest (end the sessions it names; answer with a signed
        LogoutResponse) or its LogoutResponse (back to the sign-in page)."""
        conn = self.connection(account_id, enabled=False)
        urls = sp_urls(base_url, account_id)
        outcome = protocol.process_slo(
            self.settings(conn, base_url, want_messages_signed=True),
            base_url,
            urls,
            query,
            raw_query,
        )
        if outcome.kind == "response":
            return LogoutStep("/login", False)
        self._refuse_logout_replay(conn, outcome)
        ended = 0
        if outcome.name_id:
            now = self.clock()
            for row in self.repo.sso_sessions(account_id, outcome.name_id, outcome.session_indexes):
                row.revoked_at = now
                ended += 1
        record_event(
            self.session,
            account_id=account_id,
            action="saml.logout",
            actor_id=conn.id,
            object_id=conn.id,
            address=address,
            detail={
                "initiated_by": "idp",
                "name_id": (outcome.name_id or "")[:512],
                "sessions": ended,
            },
        )
        self.session.flush()
        return LogoutStep(outcome.redirect or "/login", outcome.redirect is not None)

    def _refuse_logout_replay(self, conn: SamlConnection, outcome: protocol.SloOutcome) -> None:
        """A LogoutRequest is accepted once and only while fresh: replayed later (python3-saml
        accepts one with no NotOnOrAfter for ever), it would end the sessions the user has
        made since. Fresh = before its NotOnOrAfter and within REQUEST_TTL of its
        IssueInstant, allowing the connection's clock skew; its ID is kept as long."""
        now = self.clock()
        skew = timedelta(seconds=conn.clock_skew_seconds)
        assert outcome.request_id is not None and outcome.issued_at is not None  # noqa: S101
        end = outcome.issued_at + REQUEST_TTL
        if outcome.not_on_or_after is not None:
            end = min(end, outcome.not_on_or_after)
        if end + skew <= now:
            raise SamlRefusal("expired", "The LogoutRequest has expired.")
        self._spend_once(
            conn, "slo\x1f" + outcome.request_id, end + skew, "This LogoutRequest was used already."
        )

    def _spend_once(
        self, conn: SamlConnection, message_id: str, keep_until: datetime, used: str
    ) -> None:
        """Record a message ID of this account until `keep_until` (a conditional insert, so
        two nodes cannot both accept it): a second use anywhere is a `replay`."""
        now = self.clock()
        self.repo.purge_assertions(now)
        row = SamlAssertionId(
            key=assertion_key(conn.account_id, message_id),
            account_id=conn.account_id,
            created_at=now,
            expires_at=keep_until,
        )
        if not self.repo.consume_assertion(row):
            raise SamlRefusal("replay", used)

    # -- failures -------------------------------------------------------------------------------

    def record_failure(
        self,
        account_id: str,
        refusal: SamlRefusal,
        *,
        address: str | None,
        action: Literal["saml.login_failed", "saml.logout_failed"] = "saml.login_failed",
    ) -> None:
        """Audit a refused sign-in (`saml.login_failed`) or IdP logout message
        (`saml.logout_failed`), with the reason: the caller runs this in a transaction of its
        own, after the refused one was rolled back. Nothing is recorded for an account that
        does not exist."""
        if self.session.get(Account, account_id) is None:
            return
        conn = self.config.get(account_id)
        object_id = conn.id if conn is not None else account_id
        detail: dict[str, Any] = {"reason": refusal.reason}
        if refusal.message:
            detail["message"] = refusal.message
        for key, value in refusal.detail.items():
            detail[key] = str(value)[:200]
        record_event(
            self.session,
            account_id=account_id,
            action=action,
            actor_id=object_id,
            object_id=object_id,
            address=address,
            detail=detail,
        )
        self.session.flush()


def _first(values: list[str] | None) -> str | None:
    if not values:
        return None
    first = values[0]
    return first if isinstance(first, str) else None
