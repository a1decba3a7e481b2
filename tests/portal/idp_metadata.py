"""IdP metadata XML for the portal's single sign-on tests: the pysaml2 test IdP's own
(tests/saml/idp.py) when xmlsec1 is installed, else the same document written out for the
test IdP's key pair (reading metadata needs no xmlsec1; only the IdP's signing does)."""

from __future__ import annotations

from pathlib import Path

from tests.saml.idp import REDIRECT, KeyPair, TestIdp, make_key_pair, xmlsec1_available

ENTITY_ID = "https://idp.test/metadata"
SSO_URL = "https://idp.test/sso"
SLO_URL = "https://idp.test/slo"


def idp_metadata(directory: Path, keys: KeyPair | None = None) -> tuple[str, KeyPair]:
    keys = keys or make_key_pair(directory / "keys", "QuantumLock test IdP")
    if xmlsec1_available():
        return TestIdp(directory / "idp", keys=keys).metadata_xml(), keys
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{ENTITY_ID}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{keys.cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="{REDIRECT}" Location="{SLO_URL}"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="{REDIRECT}" Location="{SSO_URL}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""
    return xml, keys
