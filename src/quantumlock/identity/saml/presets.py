"""The attribute names each identity provider sends by default (README, "SAML single
sign-on"): a connection made with a preset uses these unless it names its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Preset = Literal["custom", "okta", "azure_ad", "auth0"]
PRESETS: tuple[str, ...] = get_args(Preset)

_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"


@dataclass(frozen=True, slots=True)
class Attributes:
    # None: no email attribute, the NameID is the email (a connection's choice; no preset's).
    email: str | None
    name: str
    groups: str


PRESET_ATTRIBUTES: dict[str, Attributes] = {
    # Okta's attribute statements are the admin's choice; these are the names its SAML app
    # wizard suggests, and `groups` is the usual group attribute statement.
    "okta": Attributes(email="email", name="displayName", groups="groups"),
    # Entra ID's default claims (Enterprise application → Single sign-on → Attributes).
    "azure_ad": Attributes(
        email=_CLAIMS + "emailaddress",
        name="http://schemas.microsoft.com/identity/claims/displayname",
        groups="http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    ),
    # Auth0's SAML2 Web App add-on's default mappings.
    "auth0": Attributes(
        email=_CLAIMS + "emailaddress",
        name=_CLAIMS + "name",
        groups="http://schemas.xmlsoap.org/claims/Group",
    ),
    "custom": Attributes(email="email", name="name", groups="groups"),
}
