"""The rules of an account's SAML connection (README, "SAML single sign-on"): what the
sign-in side reads (`get`, `sso_required_for`, `effective_attributes`) and the
configuration changes of /api/v2/sso/saml, the SDK and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from quantumlock.core.clock import utcnow
from quantumlock.identity.models import SamlConnection, User
from quantumlock.identity.roles import Role
from quantumlock.identity.saml.presets import PRESET_ATTRIBUTES, Attributes
from quantumlock.identity.saml.repository import SamlConnectionRepository
from quantumlock.keyring.sealing import Sealer

# Stored in `attribute_email` when the connection takes the email from the NameID: None
# there means "the preset's attribute".
EMAIL_FROM_NAME_ID = ""


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
