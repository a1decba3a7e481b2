"""The SP's addresses for an account, under this service's public base URL (the issuer:
`QL_ISSUER`, else the request's scheme and host)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpUrls:
    entity_id: str  # = the metadata URL, as most IdPs expect
    metadata: str
    login: str
    acs: str
    logout: str  # SP-initiated single logout (the browser is sent here to sign out)
    slo: str  # the IdP's LogoutRequest / LogoutResponse (HTTP-Redirect binding)


def sp_urls(base: str, account_id: str) -> SpUrls:
    root = f"{base.rstrip('/')}/saml/{account_id}"
    return SpUrls(
        entity_id=root + "/metadata",
        metadata=root + "/metadata",
        login=root + "/login",
        acs=root + "/acs",
        logout=root + "/logout",
        slo=root + "/slo",
    )
