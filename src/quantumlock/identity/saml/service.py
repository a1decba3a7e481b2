"""The rules of an account's SAML connection (README, "SAML single sign-on"): what the
sign-in side reads (`get`, `sso_required_for`, `effective_attributes`) and the
configuration changes of /api/v2/sso/saml, the SDK and the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import InsufficientScope, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.identity.events import IdentityEventType, record_event
from quantumlock.identity.models import SamlConnection, User
from quantumlock.identity.roles import Role
from quantumlock.identity.saml import metadata
from quantumlock.identity.saml.keys import new_sp_key_pair, seal_sp_key
from quantumlock.identity.saml.presets import PRESET_ATTRIBUTES, PRESETS, Attributes
from quantumlock.identity.saml.repository import SamlConnectionRepository
from quantumlock.identity.users.service_base import checked_role
from quantumlock.keyring.sealing import Sealer

# Stored in `attribute_email` when the connection takes the email from the NameID: None
# there means "the preset's attribute".
EMAIL_FROM_NAME_ID = ""
MAX_GROUP_ROLES = 100
MAX_NAME = 255
MAX_SKEW = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ATTRIBUTE_FIELDS = ("email", "name", "groups")

# What PUT leaves out takes these (a replace starts from scratch, keeping only the key pair).
DEFAULTS: dict[str, Any] = {
    "preset": "custom",
    "attributes": {},
    "jit_provisioning": True,
    "default_role": Role.MEMBER.value,
    "group_roles": {},
    "allow_idp_initiated": False,
    "sso_required": False,
    "clock_skew_seconds": 60,
    "enabled": True,
    "idp_slo_url": None,
}
# The columns a request field names (attributes are three columns: attribute_email, ...).
_PLAIN = (
    "preset",
    "jit_provisioning",
    "default_role",
    "group_roles",
    "allow_idp_initiated",
    "sso_required",
    "clock_skew_seconds",
    "enabled",
)
_IDP = ("idp_entity_id", "idp_sso_url", "idp_slo_url", "idp_certificates")
TEST_MODE_REFUSAL = (
    "SSO connections are changed with live credentials: a test-mode key can only read them."
)
OWNER_REFUSAL = "Only an owner can change the account's single sign-on."


@dataclass(frozen=True, slots=True)
class Configured:
    connection: SamlConnection
    created: bool


class SamlConfigService:
    def __init__(
        self, session: Session, sealer: Sealer, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.sealer = sealer
        self.repo = SamlConnectionRepository(session)
        self.clock = clock

    def get(self, account_id: str) -> SamlConnection | None:
        """The account's connection (enabled or not), or None."""
        return self.repo.by_account(account_id)

    def sso_required_for(self, user: User) -> bool:
        """Password sign-in is off for this user: their account's connection is enabled and
        requires SSO, and they are not an owner (owners keep the break-glass password)."""
        if user.role == Role.OWNER:
            return False
        conn = self.get(user.account_id)
        return conn is not None and conn.enabled and conn.sso_required

    @staticmethod
    def effective_attributes(conn: SamlConnection) -> Attributes:
        """The attribute names to read: the connection's own, else its preset's. `email`
        None means the NameID is the email."""
        preset = PRESET_ATTRIBUTES.get(conn.preset, PRESET_ATTRIBUTES["custom"])
        email = conn.attribute_email
        return Attributes(
            email=(None if email == EMAIL_FROM_NAME_ID else email or preset.email),
            name=conn.attribute_name or preset.name,
            groups=conn.attribute_groups or preset.groups,
        )

    # -- configuration ---------------------------------------------------------------------

    def configure(
        self,
        actor: Actor,
        fields: Mapping[str, Any],
        *,
        owner_level: bool,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> Configured:
        """Create the account's connection, or replace it (PUT): fields left out take their
        defaults, the SP key pair stays (the IdP trusts its certificate)."""
        self._refuse(actor, owner_level)
        given = {k: v for k, v in fields.items() if v is not None and k not in _IDP}
        values = {**DEFAULTS, **given}
        idp = self._idp(fields, current=None)
        conn = self.get(actor.account_id)
        created = conn is None
        if conn is None:
            conn = self._new(actor.account_id)
            before: dict[str, Any] = {}
        else:
            before = self._snapshot(conn)
        self._apply(conn, {**values, **idp}, replace_attributes=True)
        if created and not self.repo.add_once(conn):
            # A concurrent PUT made the account's connection first: replace that one.
            conn = self.get(actor.account_id)
            if conn is None:  # deleted again in between: the caller may retry
                raise NotFound("No SAML connection for this account.")
            before, created = self._snapshot(conn), False
            self._apply(conn, {**values, **idp}, replace_attributes=True)
        self._settle(actor, conn, before, created, acting_user_id, address)
        return Configured(conn, created)

    def update(
        self,
        actor: Actor,
        fields: Mapping[str, Any],
        *,
        owner_level: bool,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> SamlConnection:
        """Change the named fields (PATCH); a field left out (or null, but for `idp_slo_url`
        and `attributes.email`, where null means none) stays. 404 when there is none."""
        conn = self._existing(actor)  # none: 404 first, for a test key too (as /users)
        self._refuse(actor, owner_level)
        before = self._snapshot(conn)
        values = {k: v for k, v in fields.items() if v is not None and k not in _IDP}
        values.pop("idp_metadata_xml", None)
        self._apply(conn, {**values, **self._idp(fields, current=conn)}, replace_attributes=False)
        self._settle(actor, conn, before, False, acting_user_id, address)
        return conn

    def _settle(
        self,
        actor: Actor,
        conn: SamlConnection,
        before: dict[str, Any],
        created: bool,
        acting_user_id: str | None,
        address: str | None,
    ) -> None:
        """After a create, replace or update: apply "SSO required" if it just came into
        force, audit the change, flush."""
        ended = self._enforce_sso_required(conn, before)
        self._audit(
            actor,
            conn,
            before,
            created=created,
            acting_user_id=acting_user_id,
            address=address,
            ended=ended,
        )
        self.session.flush()

    def delete(
        self,
        actor: Actor,
        *,
        owner_level: bool,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> None:
        """Remove the connection (and its SP key pair): SSO sign-in stops, password sign-in
        works again for everyone with a password."""
        conn = self._existing(actor)  # none: 404 first, for a test key too (as /users)
        self._refuse(actor, owner_level)
        self._event(
            actor,
            conn,
            "saml.config_delete",
            acting_user_id,
            address,
            {"idp_entity_id": conn.idp_entity_id},
        )
        self.repo.delete(conn)
        self.session.flush()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _refuse(actor: Actor, owner_level: bool) -> None:
        # As /api/v2/users: users (and so how they sign in) belong to no mode, and test mode
        # stays a sandbox.
        if actor.is_test:
            raise InsufficientScope(TEST_MODE_REFUSAL)
        # The connection decides who anyone is: its IdP (or whoever controls the attribute it
        # reads the email from) can sign in as any user, owners included. So, as for an
        # admin-scope credential, only an owner-level caller (`Principal.grants_admin`: an API
        # key, a service account, an owner's token) may change it; an admin user only reads.
        if not owner_level:
            raise InsufficientScope(OWNER_REFUSAL)

    def _existing(self, actor: Actor) -> SamlConnection:
        conn = self.get(actor.account_id)
        if conn is None:
            raise NotFound("No SAML connection for this account.")
        return conn

    def _new(self, account_id: str) -> SamlConnection:
        # The SP key pair is made once, with the connection: replacing or updating the
        # connection keeps it, as the IdP has been given its certificate.
        conn_id = new_id("saml")
        pair = new_sp_key_pair(account_id, self.clock())
        now = self.clock()
        return SamlConnection(
            id=conn_id,
            account_id=account_id,
            sp_certificate=pair.certificate_pem,
            sealed_sp_private_key=seal_sp_key(self.sealer, conn_id, pair),
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _idp(fields: Mapping[str, Any], current: SamlConnection | None) -> dict[str, Any]:
        """The IdP columns: the metadata's, overridden by the explicit fields; on a PATCH,
        what neither names stays. A PUT must end with all three required ones."""
        out: dict[str, Any] = {}
        xml = fields.get("idp_metadata_xml")
        if xml is not None:
            parsed = metadata.parse_metadata(xml)
            out = {
                "idp_entity_id": parsed.entity_id,
                "idp_sso_url": parsed.sso_url,
                "idp_slo_url": parsed.slo_url,
                "idp_certificates": parsed.certificates,
            }
        if fields.get("idp_entity_id") is not None:
            out["idp_entity_id"] = metadata.entity_id(fields["idp_entity_id"])
        if fields.get("idp_sso_url") is not None:
            out["idp_sso_url"] = metadata.url(fields["idp_sso_url"], "idp_sso_url")
        if fields.get("idp_slo_url") is not None:
            out["idp_slo_url"] = metadata.url(fields["idp_slo_url"], "idp_slo_url")
        elif "idp_slo_url" in fields:
            out["idp_slo_url"] = None  # named as null: no single logout with the IdP
        if fields.get("idp_certificates") is not None:
            out["idp_certificates"] = [
                c.pem for c in metadata.certificates(fields["idp_certificates"])
            ]
        if current is None:
            for name in ("idp_entity_id", "idp_sso_url", "idp_certificates"):
                if name not in out:
                    raise ValidationFailed(
                        f"{name}: required (or give idp_metadata_xml).", field=name
                    )
        return out

    def _apply(
        self, conn: SamlConnection, values: Mapping[str, Any], *, replace_attributes: bool
    ) -> None:
        for name in _IDP:
            if name in values:
                setattr(conn, name, values[name])
        if "preset" in values:
            conn.preset = _preset(values["preset"])
        if "attributes" in values or replace_attributes:
            given = values.get("attributes") or {}
            for key in ATTRIBUTE_FIELDS:
                if key in given or replace_attributes:
                    setattr(conn, f"attribute_{key}", _attribute(key, given, key in given))
        for name in ("jit_provisioning", "allow_idp_initiated", "sso_required", "enabled"):
            if name in values:
                setattr(conn, name, bool(values[name]))
        if "default_role" in values:
            conn.default_role = _sso_role(values["default_role"], "default_role")
        if "group_roles" in values:
            conn.group_roles = _group_roles(values["group_roles"])
        if "clock_skew_seconds" in values:
            conn.clock_skew_seconds = _skew(values["clock_skew_seconds"])
        conn.updated_at = self.clock()

    def _enforce_sso_required(self, conn: SamlConnection, before: dict[str, Any]) -> int | None:
        """When "SSO required" comes into force (switched on, or the connection enabled
        with it), the password sessions of the account's non-owners end: the rule would
        otherwise only bite when they expire (up to the session's maximum age). Owners keep
        theirs (break-glass). The number ended, or None when the rule did not come on."""
        was = bool(before.get("enabled") and before.get("sso_required"))
        if was or not (conn.enabled and conn.sso_required):
            return None
        return self.repo.end_password_sessions(conn.account_id, self.clock())

    @staticmethod
    def _snapshot(conn: SamlConnection) -> dict[str, Any]:
        return {
            "idp_entity_id": conn.idp_entity_id,
            "idp_sso_url": conn.idp_sso_url,
            "idp_slo_url": conn.idp_slo_url,
            "idp_certificates": list(conn.idp_certificates),
            "attributes": (conn.attribute_email, conn.attribute_name, conn.attribute_groups),
            **{name: getattr(conn, name) for name in _PLAIN},
        }

    def _audit(
        self,
        actor: Actor,
        conn: SamlConnection,
        before: dict[str, Any],
        *,
        created: bool,
        acting_user_id: str | None,
        address: str | None,
        ended: int | None = None,
    ) -> None:
        """Which fields changed and the IdP certificates' fingerprints: never key material."""
        after = self._snapshot(conn)
        changed = sorted(k for k, v in after.items() if created or before.get(k) != v)
        detail: dict[str, Any] = {"fields": changed}
        if ended is not None:
            detail["password_sessions_ended"] = ended
        if created or "idp_certificates" in changed:
            detail["certificates"] = [
                metadata.certificate(pem).fingerprint_sha256 for pem in conn.idp_certificates
            ]
        action: IdentityEventType = "saml.config_create" if created else "saml.config_update"
        self._event(actor, conn, action, acting_user_id, address, detail)

    def _event(
        self,
        actor: Actor,
        conn: SamlConnection,
        action: IdentityEventType,
        acting_user_id: str | None,
        address: str | None,
        detail: dict[str, Any],
    ) -> None:
        record_event(
            self.session,
            account_id=conn.account_id,
            action=action,
            actor_id=acting_user_id or actor.key_id,
            object_id=conn.id,
            mode=actor.mode,
            address=address,
            detail=detail,
        )


def _preset(value: str) -> str:
    if value not in PRESETS:
        raise ValidationFailed(f"preset: must be one of {', '.join(PRESETS)}.", field="preset")
    return value


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME or _CONTROL.search(value):
        raise ValidationFailed(
            f"{field}: 1 to {MAX_NAME} characters, no control characters.", field=field
        )
    return value


def _attribute(key: str, given: Mapping[str, Any], named: bool) -> str | None:
    """The column value: None = the preset's; for email, a null given = the NameID."""
    if not named:
        return None
    value = given[key]
    if value is None:
        return EMAIL_FROM_NAME_ID if key == "email" else None
    return _name(value, f"attributes.{key}")


def _sso_role(value: str, field: str) -> str:
    try:
        role = checked_role(value)
    except ValidationFailed:
        role = None
    if role is None or role == Role.OWNER:
        # Owners are made by owners, never by an IdP's say-so.
        raise ValidationFailed(f"{field}: must be admin, member or viewer.", field=field)
    return role.value


def _group_roles(value: Mapping[str, str]) -> dict[str, str]:
    if len(value) > MAX_GROUP_ROLES:
        raise ValidationFailed(
            f"group_roles: at most {MAX_GROUP_ROLES} groups.", field="group_roles"
        )
    return {
        _name(group, "group_roles"): _sso_role(role, "group_roles") for group, role in value.items()
    }


def _skew(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SKEW:
        raise ValidationFailed(f"clock_skew_seconds: 0 to {MAX_SKEW}.", field="clock_skew_seconds")
    return value
