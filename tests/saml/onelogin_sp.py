"""A python3-saml SP driven directly (no QuantumLock routes), for the IdP's self-tests: it
builds the signed AuthnRequest the real SP would, and validates the IdP's responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped,unused-ignore]
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser  # type: ignore[import-untyped,unused-ignore]
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata  # type: ignore[import-untyped,unused-ignore]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped,unused-ignore]

from quantumlock.identity.saml.keys import new_sp_key_pair
from tests.saml.idp import EMAIL_FORMAT, POST, REDIRECT, RSA_SHA256, SHA256, encode_post

HOST = "127.0.0.1:8000"


@dataclass
class OneLoginSp:
    settings: dict[str, Any]
    base: str

    @property
    def entity_id(self) -> str:
        return self.base + "/metadata"

    @property
    def acs_url(self) -> str:
        return self.base + "/acs"

    @property
    def slo_url(self) -> str:
        return self.base + "/slo"

    def signed_metadata(self) -> str:
        sp = self.settings["sp"]
        xml = OneLogin_Saml2_Settings(self.settings).get_sp_metadata()
        signed = OneLogin_Saml2_Metadata.sign_metadata(
            xml, sp["privateKey"], sp["x509cert"], RSA_SHA256, SHA256
        )
        return signed.decode() if isinstance(signed, bytes) else str(signed)

    def _request(self, path: str, **data: Any) -> dict[str, Any]:
        return {"https": "off", "http_host": HOST, "script_name": urlsplit(self.base).path + path,
                "get_data": data.get("get", {}), "post_data": data.get("post", {})}  # fmt: skip

    def login(self, relay_state: str = "/dashboard") -> tuple[str, str]:
        """(Location of the HTTP-Redirect, the AuthnRequest's id)."""
        auth = OneLogin_Saml2_Auth(self._request("/login"), self.settings)
        location = auth.login(return_to=relay_state)
        return location, auth.get_last_request_id()

    def acs(self, response_xml: str, request_id: str | None) -> OneLogin_Saml2_Auth:
        post = {"SAMLResponse": encode_post(response_xml)}
        auth = OneLogin_Saml2_Auth(self._request("/acs", post=post), self.settings)
        auth.process_response(request_id=request_id)
        return auth

    def slo(self, location: str) -> OneLogin_Saml2_Auth:
        from urllib.parse import parse_qs

        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        request = self._request("/slo", get=query)
        auth = OneLogin_Saml2_Auth(request, self.settings)
        auth.process_slo(keep_local_session=True)
        return auth


def onelogin_sp(idp_metadata_xml: str, account_id: str = "acct_selftest") -> OneLoginSp:
    pair = new_sp_key_pair(account_id)
    base = f"http://{HOST}/saml/{account_id}"
    idp = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata_xml)["idp"]
    settings = {
        "strict": True,
        "sp": {
            "entityId": base + "/metadata",
            "assertionConsumerService": {"url": base + "/acs", "binding": POST},
            "singleLogoutService": {"url": base + "/slo", "binding": REDIRECT},
            "NameIDFormat": EMAIL_FORMAT,
            "x509cert": pair.certificate_pem,
            "privateKey": pair.private_key_pem,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            "wantAssertionsSigned": False,
            "wantMessagesSigned": False,
            "signatureAlgorithm": RSA_SHA256,
            "digestAlgorithm": SHA256,
            "rejectDeprecatedAlgorithm": True,
        },
    }
    return OneLoginSp(settings, base)
