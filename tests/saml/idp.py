"""A real SAML identity provider for the tests, built with pysaml2 (a different implementation
from the SP's python3-saml), signing with its own RSA key through /usr/bin/xmlsec1.

`TestIdp` reads the SP's signed AuthnRequest from the HTTP-Redirect Location (checking its
signature against the certificate of the SP's metadata), answers with a Response signed as
asked, builds IdP-initiated responses, its own metadata and LogoutRequests. The `attacks`
helpers at the end derive forged responses from a good one (tampering, signature wrapping,
comment injection).

Everything an attack needs is done on the XML after (or before) pysaml2 signs, so each
variant is exactly what an attacker holding one genuine response could send.
"""

from __future__ import annotations

import base64
import copy
import shutil
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped,unused-ignore]

XMLSEC1 = "/usr/bin/xmlsec1"

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
ENTITY_FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def xmlsec1_available() -> bool:
    return shutil.which(XMLSEC1) is not None or Path(XMLSEC1).exists()


# ------------------------------------------------------------------------- key material
@dataclass(frozen=True)
class KeyPair:
    key_path: Path
    cert_path: Path
    cert_pem: str

    @property
    def cert_b64(self) -> str:
        """The certificate as bare base64 DER (what metadata and KeyInfo carry)."""
        return "".join(line for line in self.cert_pem.splitlines() if "-----" not in line)


def make_key_pair(directory: Path, common_name: str = "Test IdP") -> KeyPair:
    """A fresh RSA-2048 key and self-signed certificate, written to `directory` (pysaml2 and
    xmlsec1 read files)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    stem = uuid.uuid4().hex[:8]
    key_path = directory / f"idp-{stem}.key"
    cert_path = directory / f"idp-{stem}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path.write_text(cert_pem)
    return KeyPair(key_path, cert_path, cert_pem)


# ------------------------------------------------------------------------- the IdP
@dataclass(frozen=True)
class AuthnRequestSeen:
    """What the IdP read from the SP's redirect."""

    id: str
    issuer: str
    acs_url: str | None
    destination: str | None
    relay_state: str | None
    signature_checked: bool


@dataclass
class User:
    email: str
    name: str = "Ada Lovelace"
    groups: list[str] = field(default_factory=list)
    name_id: str | None = None  # default: the email


@dataclass(frozen=True)
class ResponseParams:
    """Everything a Response says; attacks change one field before signing."""

    user: User
    sp_entity_id: str
    acs_url: str
    in_response_to: str | None
    destination: str | None = None  # default acs_url
    recipient: str | None = None  # default acs_url
    audience: str | None = None  # default sp_entity_id
    issuer: str | None = None  # default the IdP's entity id
    not_before: datetime | None = None
    not_on_or_after: datetime | None = None  # Conditions
    subject_not_on_or_after: datetime | None = None  # SubjectConfirmationData
    issue_instant: datetime | None = None
    session_index: str | None = None
    attribute_names: tuple[str, str, str] = ("email", "name", "groups")
    email_attribute: bool = True


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    # NCName: must not start with a digit
    return "_" + uuid.uuid4().hex


class TestIdp:
    """A pysaml2 IdP (saml2.server.Server, configured in code)."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        directory: Path,
        *,
        entity_id: str = "https://idp.test/metadata",
        sso_url: str = "https://idp.test/sso",
        slo_url: str = "https://idp.test/slo",
        sp_metadata_xml: str | None = None,
        keys: KeyPair | None = None,
    ) -> None:
        self.directory = directory
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.slo_url = slo_url
        self.keys = keys or make_key_pair(directory / "keys")
        self.sp_metadata_xml = sp_metadata_xml
        self._server: Any = None

    # -- pysaml2 ---------------------------------------------------------------------
    def config(self) -> Any:
        from saml2.config import IdPConfig  # type: ignore[import-untyped,unused-ignore]

        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC1,
            "key_file": str(self.keys.key_path),
            "cert_file": str(self.keys.cert_path),
            "accepted_time_diff": 60,
            "service": {
                "idp": {
                    "name": "QuantumLock test IdP",
                    "endpoints": {
                        "single_sign_on_service": [(self.sso_url, REDIRECT)],
                        "single_logout_service": [(self.slo_url, REDIRECT)],
                    },
                    "want_authn_requests_signed": True,
                    "name_id_format": [EMAIL_FORMAT],
                    "sign_response": False,
                    "sign_assertion": False,
                    "policy": {"default": {"lifetime": {"minutes": 5}}},
                }
            },
            "metadata": {"inline": [self.sp_metadata_xml]} if self.sp_metadata_xml else {},
            "signing_algorithm": RSA_SHA256,
            "digest_algorithm": SHA256,
            "delete_tmpfiles": True,
        }
        config = IdPConfig()
        config.load(conf)
        return config

    @property
    def server(self) -> Any:
        if self._server is None:
            from saml2.server import Server  # type: ignore[import-untyped,unused-ignore]

            self._server = Server(config=self.config())
        return self._server

    def trust_sp(self, sp_metadata_xml: str) -> None:
        """Load the SP's (signed) metadata: its certificate checks the AuthnRequests."""
        self.sp_metadata_xml = sp_metadata_xml
        self._server = None

    def metadata_xml(self) -> str:
        from saml2.metadata import create_metadata_string  # type: ignore[import-untyped,unused-ignore]

        text = create_metadata_string(None, config=self.config(), valid=24, sign=False)
        return text.decode() if isinstance(text, bytes) else str(text)

    # -- AuthnRequest ----------------------------------------------------------------
    def read_authn_request(self, location: str) -> AuthnRequestSeen:
        """Parse the SP's HTTP-Redirect (the Location it answered /login with): pysaml2
        checks the SigAlg/Signature against the SP certificate of the SP's metadata."""

        assert self.sp_metadata_xml, "trust_sp() first: the request's signature needs it"
        query = parse_qs(urlsplit(location).query, keep_blank_values=True)
        saml_request = query["SAMLRequest"][0]
        relay_state = query.get("RelayState", [None])[0]
        sigalg = query.get("SigAlg", [None])[0]
        signature = query.get("Signature", [None])[0]
        parsed = self.server.parse_authn_request(
            saml_request, REDIRECT, relay_state=relay_state, sigalg=sigalg, signature=signature
        )
        assert parsed is not None, "pysaml2 could not read the AuthnRequest"
        message = parsed.message
        return AuthnRequestSeen(
            id=message.id,
            issuer=message.issuer.text.strip(),
            acs_url=message.assertion_consumer_service_url,
            destination=message.destination,
            relay_state=relay_state,
            signature_checked=bool(sigalg and signature),
        )

    # -- Response --------------------------------------------------------------------
    def unsigned_response(self, params: ResponseParams) -> str:
        """The Response pysaml2 builds, with our exact attribute names and times, unsigned."""
        from saml2 import saml, samlp  # type: ignore[import-untyped,unused-ignore]
        from saml2.saml import NameID  # type: ignore[import-untyped,unused-ignore]

        user = params.user
        name_id = NameID(format=EMAIL_FORMAT, text=user.name_id or user.email)
        xml = self.server.create_authn_response(
            identity={},
            in_response_to=params.in_response_to,
            destination=params.destination or params.acs_url,
            sp_entity_id=params.sp_entity_id,
            name_id=name_id,
            authn={"class_ref": PASSWORD_PROTECTED},
            sign_response=False,
            sign_assertion=False,
        )
        response = samlp.response_from_string(str(xml))
        now = params.issue_instant or datetime.now(UTC)
        not_before = params.not_before or now - timedelta(seconds=30)
        until = params.not_on_or_after or now + timedelta(minutes=5)
        response.issue_instant = _instant(now)
        response.destination = params.destination or params.acs_url
        if params.in_response_to is None:
            response.in_response_to = None
        if params.issuer:
            response.issuer.text = params.issuer
        assertion = response.assertion[0]
        assertion.issue_instant = _instant(now)
        if params.issuer:
            assertion.issuer.text = params.issuer
        assertion.conditions.not_before = _instant(not_before)
        assertion.conditions.not_on_or_after = _instant(until)
        assertion.conditions.audience_restriction = [
            saml.AudienceRestriction(
                audience=[saml.Audience(text=params.audience or params.sp_entity_id)]
            )
        ]
        confirmation = assertion.subject.subject_confirmation[0]
        data = confirmation.subject_confirmation_data
        data.recipient = params.recipient or params.acs_url
        data.not_on_or_after = _instant(params.subject_not_on_or_after or until)
        data.in_response_to = params.in_response_to
        data.not_before = None
        statement = assertion.authn_statement[0]
        statement.authn_instant = _instant(now)
        statement.session_index = params.session_index or new_id()
        statement.session_not_on_or_after = None
        email_name, name_name, groups_name = params.attribute_names
        values: list[tuple[str, list[str]]] = [(name_name, [user.name])]
        if params.email_attribute:
            values.insert(0, (email_name, [user.email]))
        if user.groups:
            values.append((groups_name, list(user.groups)))
        basic = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
        attributes = []
        for attr_name, texts in values:
            attribute_values = []
            for text in texts:
                value = saml.AttributeValue()
                value.set_text(text)
                attribute_values.append(value)
            attributes.append(
                saml.Attribute(name=attr_name, name_format=basic, attribute_value=attribute_values)
            )
        assertion.attribute_statement = [saml.AttributeStatement(attribute=attributes)]
        return str(response.to_string().decode())

    def sign(
        self,
        unsigned_xml: str,
        *,
        sign_assertion: bool = True,
        sign_response: bool = False,
        keys: KeyPair | None = None,
        sign_alg: str = RSA_SHA256,
        digest_alg: str = SHA256,
    ) -> str:
        """Sign with xmlsec1 (pysaml2's security context): the assertion first, then the
        Response (whose signature then covers the assertion's)."""
        from saml2 import samlp  # type: ignore[import-untyped,unused-ignore]
        from saml2.sigver import pre_signature_part  # type: ignore[import-untyped,unused-ignore]

        keys = keys or self.keys
        response = samlp.response_from_string(unsigned_xml)
        assertion = response.assertion[0]
        if sign_assertion:
            assertion.signature = pre_signature_part(
                assertion.id, keys.cert_b64, digest_alg=digest_alg, sign_alg=sign_alg
            )
        if sign_response:
            response.signature = pre_signature_part(
                response.id, keys.cert_b64, digest_alg=digest_alg, sign_alg=sign_alg
            )
        xml = str(response.to_string().decode())
        sec = self.server.sec
        if sign_assertion:
            xml = sec.sign_statement(
                xml,
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                key_file=str(keys.key_path),
                node_id=assertion.id,
            )
        if sign_response:
            xml = sec.sign_statement(
                xml,
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
                key_file=str(keys.key_path),
                node_id=response.id,
            )
        return str(xml)

    def response(
        self,
        params: ResponseParams,
        *,
        sign_assertion: bool = True,
        sign_response: bool = False,
        keys: KeyPair | None = None,
        before_signing: Callable[[str], str] | None = None,
        sign_alg: str = RSA_SHA256,
        digest_alg: str = SHA256,
    ) -> str:
        """A signed Response (XML text); `before_signing` edits the unsigned XML."""
        xml = self.unsigned_response(params)
        if before_signing is not None:
            xml = before_signing(xml)
        if not (sign_assertion or sign_response):
            return xml
        return self.sign(
            xml,
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            keys=keys,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )

    def answer(
        self,
        request: AuthnRequestSeen,
        user: User,
        *,
        sp_entity_id: str | None = None,
        session_index: str | None = None,
        **kw: Any,
    ) -> str:
        """The Response to an AuthnRequest the IdP read (SP-initiated)."""
        assert request.acs_url, "the SP names its ACS in the AuthnRequest"
        params = ResponseParams(
            user=user,
            sp_entity_id=sp_entity_id or request.issuer,
            acs_url=request.acs_url,
            in_response_to=request.id,
            session_index=session_index,
        )
        return self.response(params, **kw)

    def idp_initiated(self, user: User, sp_entity_id: str, acs_url: str, **kw: Any) -> str:
        """An unsolicited Response (no InResponseTo)."""
        params = ResponseParams(
            user=user, sp_entity_id=sp_entity_id, acs_url=acs_url, in_response_to=None
        )
        return self.response(params, **kw)

    # -- single logout ---------------------------------------------------------------
    def logout_request_url(
        self,
        slo_url: str,
        name_id: str,
        session_index: str | None = None,
        *,
        sp_entity_id: str | None = None,
        relay_state: str | None = None,
        keys: KeyPair | None = None,
    ) -> str:
        """The URL of the SP's SLO endpoint carrying a LogoutRequest, HTTP-Redirect binding,
        signed (SigAlg + Signature over the query, as the binding says)."""
        from saml2 import samlp  # type: ignore[import-untyped,unused-ignore]
        from saml2.saml import Issuer, NameID  # type: ignore[import-untyped,unused-ignore]

        request = samlp.LogoutRequest(
            id=new_id(),
            version="2.0",
            issue_instant=_instant(datetime.now(UTC)),
            destination=slo_url,
            issuer=Issuer(
                text=self.entity_id, format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
            ),
            name_id=NameID(format=EMAIL_FORMAT, text=name_id),
            session_index=[samlp.SessionIndex(text=session_index)] if session_index else [],
            not_on_or_after=_instant(datetime.now(UTC) + timedelta(minutes=5)),
        )
        if sp_entity_id:
            request.name_id.sp_name_qualifier = sp_entity_id
        xml = str(request.to_string().decode())
        return redirect_url(slo_url, "SAMLRequest", xml, keys or self.keys, relay_state)

    def read_logout_request(self, location: str) -> tuple[str, list[str], str | None]:
        """The SP's LogoutRequest from its redirect, its signature checked by pysaml2 against
        the SP's metadata: (NameID, SessionIndexes, RelayState)."""
        assert self.sp_metadata_xml, "trust_sp() first"
        query = parse_qs(urlsplit(location).query, keep_blank_values=True)
        relay_state = query.get("RelayState", [None])[0]
        parsed = self.server.parse_logout_request(
            query["SAMLRequest"][0],
            REDIRECT,
            relay_state=relay_state,
            sigalg=query.get("SigAlg", [None])[0],
            signature=query.get("Signature", [None])[0],
        )
        assert parsed is not None, "pysaml2 could not read the LogoutRequest"
        message = parsed.message
        indexes = [str(i.text) for i in message.session_index or []]
        return str(message.name_id.text), indexes, relay_state

    def read_logout_response(self, location: str) -> tuple[str, str | None]:
        """The SP's LogoutResponse from its redirect: (status code, InResponseTo)."""
        query = parse_qs(urlsplit(location).query)
        xml = inflate(query["SAMLResponse"][0])
        root = etree.fromstring(xml.encode())
        status = root.find("samlp:Status/samlp:StatusCode", NS)
        assert status is not None
        return str(status.get("Value")), root.get("InResponseTo")


def deflate(xml: str) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = compressor.compress(xml.encode()) + compressor.flush()
    return base64.b64encode(raw).decode()


def inflate(value: str) -> str:
    return zlib.decompress(base64.b64decode(value), -15).decode()


def redirect_url(
    url: str, param: str, xml: str, keys: KeyPair, relay_state: str | None = None
) -> str:
    """HTTP-Redirect binding: deflate + base64, then sign `param=..&RelayState=..&SigAlg=..`
    (the URL-encoded octets, as SAML bindings §3.4.4.1 says)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    pairs = [(param, deflate(xml))]
    if relay_state is not None:
        pairs.append(("RelayState", relay_state))
    pairs.append(("SigAlg", RSA_SHA256))
    signed = urlencode(pairs)
    key = serialization.load_pem_private_key(keys.key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    query = signed + "&" + urlencode({"Signature": base64.b64encode(signature).decode()})
    return url + ("&" if "?" in url else "?") + query


def encode_post(xml: str) -> str:
    """The HTTP-POST binding's SAMLResponse value."""
    return base64.b64encode(xml.encode()).decode()


# ------------------------------------------------------------------------- attacks
def _tree(xml: str) -> Any:
    return etree.fromstring(xml.encode(), parser=etree.XMLParser(resolve_entities=False))


def _text(root: Any) -> str:
    return str(etree.tostring(root).decode())


def _assertion(root: Any) -> Any:
    found = root.find("saml:Assertion", NS)
    assert found is not None
    return found


def _set_identity(assertion: Any, email: str) -> None:
    """Point NameID and the email attribute of an assertion at `email`."""
    for name_id in assertion.iter(f"{{{NS['saml']}}}NameID"):
        name_id.text = email
    for attribute in assertion.iter(f"{{{NS['saml']}}}Attribute"):
        if attribute.get("Name") in ("email", "mail") or attribute.get("Name", "").endswith(
            "emailaddress"
        ):
            for value in attribute.findall("saml:AttributeValue", NS):
                value.text = email


def _evil_copy(assertion: Any, email: str, *, new_id_: bool = True) -> Any:
    evil = copy.deepcopy(assertion)
    for signature in evil.findall("ds:Signature", NS):
        evil.remove(signature)
    if new_id_:
        evil.set("ID", new_id())
    _set_identity(evil, email)
    return evil


def tampered(xml: str, email: str) -> str:
    """The signed response with the email changed after signing."""
    root = _tree(xml)
    _set_identity(_assertion(root), email)
    return _text(root)


def unsigned(xml: str) -> str:
    """Every signature removed."""
    root = _tree(xml)
    for signature in list(root.iter(f"{{{NS['ds']}}}Signature")):
        signature.getparent().remove(signature)
    return _text(root)


def comment_injected(xml: str, real: str, cut_at: str) -> str:
    """CVE-2017-11427: `victim@example.com<!---->.evil.test`. The IdP signed `real`
    (an address the attacker owns); a comment after `cut_at` leaves the signature valid
    (exclusive c14n drops comments) while a naive reader of the first text node sees only
    `cut_at`."""
    assert real.startswith(cut_at)
    rest = real[len(cut_at) :]
    root = _tree(xml)
    targets = list(root.iter(f"{{{NS['saml']}}}NameID"))
    for attribute in root.iter(f"{{{NS['saml']}}}Attribute"):
        targets.extend(attribute.findall("saml:AttributeValue", NS))
    for element in targets:
        if element.text != real:
            continue
        element.text = cut_at
        comment = etree.Comment("")
        comment.tail = rest
        element.append(comment)
    out = _text(root)
    assert "<!---->" in out
    return out


# XML signature wrapping: the classic variants (names after SAML Raider's XSW1..8 where
# they match). Each keeps the genuine signed element somewhere and adds an evil one that
# a careless reader would take.
def xsw_evil_assertion_before(xml: str, email: str) -> str:
    """XSW3: an unsigned evil assertion (new ID) before the signed one."""
    root = _tree(xml)
    signed = _assertion(root)
    signed.addprevious(_evil_copy(signed, email))
    return _text(root)


def xsw_evil_assertion_after(xml: str, email: str) -> str:
    """The evil assertion after the signed one."""
    root = _tree(xml)
    signed = _assertion(root)
    signed.addnext(_evil_copy(signed, email))
    return _text(root)


def xsw_evil_assertion_same_id(xml: str, email: str) -> str:
    """An evil assertion with the SAME ID as the signed one, first in document order (ID
    lookups may find the genuine one, readers the evil one)."""
    root = _tree(xml)
    signed = _assertion(root)
    signed.addprevious(_evil_copy(signed, email, new_id_=False))
    return _text(root)


def xsw_evil_wraps_signed(xml: str, email: str) -> str:
    """XSW4: the evil assertion holds the signed one as a child."""
    root = _tree(xml)
    signed = _assertion(root)
    evil = _evil_copy(signed, email)
    signed.addprevious(evil)
    root.remove(signed)
    evil.append(signed)
    return _text(root)


def xsw_signed_in_extensions(xml: str, email: str) -> str:
    """XSW7: the signed assertion moved into samlp:Extensions; an evil one in its place."""
    root = _tree(xml)
    signed = _assertion(root)
    evil = _evil_copy(signed, email)
    signed.addprevious(evil)
    root.remove(signed)
    extensions = etree.Element(f"{{{NS['samlp']}}}Extensions")
    extensions.append(signed)
    issuer = root.find("saml:Issuer", NS)
    assert issuer is not None
    issuer.addnext(extensions)
    return _text(root)


def xsw_signed_in_object(xml: str, email: str) -> str:
    """XSW8: an evil assertion carrying a copy of the signature, with the genuine signed
    assertion tucked into that signature's ds:Object."""
    root = _tree(xml)
    signed = _assertion(root)
    evil = _evil_copy(signed, email)
    signature = copy.deepcopy(signed.find("ds:Signature", NS))
    assert signature is not None, "XSW8 needs a signed assertion"
    obj = etree.SubElement(signature, f"{{{NS['ds']}}}Object")
    signed.addprevious(evil)
    root.remove(signed)
    obj.append(signed)
    issuer = evil.find("saml:Issuer", NS)
    assert issuer is not None
    issuer.addnext(signature)
    return _text(root)


def xsw_evil_response_wraps_signed(xml: str, email: str) -> str:
    """XSW1 (response signed): an evil Response (new ID, evil assertion) whose copied
    ds:Signature holds the genuine signed Response."""
    signed = _tree(xml)
    signature = signed.find("ds:Signature", NS)
    assert signature is not None, "XSW1 needs a signed response"
    evil = copy.deepcopy(signed)
    evil.set("ID", new_id())
    evil_sig = evil.find("ds:Signature", NS)
    assert evil_sig is not None
    for assertion in evil.findall("saml:Assertion", NS):
        for inner in assertion.findall("ds:Signature", NS):
            assertion.remove(inner)
        _set_identity(assertion, email)
    evil_sig.append(signed)
    return _text(evil)


def xsw_evil_response_beside_signed(xml: str, email: str) -> str:
    """XSW2 (response signed): the genuine signed Response as a sibling of the copied
    signature inside the evil Response (detached)."""
    signed = _tree(xml)
    assert signed.find("ds:Signature", NS) is not None, "XSW2 needs a signed response"
    evil = copy.deepcopy(signed)
    evil.set("ID", new_id())
    evil_sig = evil.find("ds:Signature", NS)
    assert evil_sig is not None
    for assertion in evil.findall("saml:Assertion", NS):
        for inner in assertion.findall("ds:Signature", NS):
            assertion.remove(inner)
        _set_identity(assertion, email)
    evil_sig.addprevious(signed)
    return _text(evil)


WRAPPING_ON_ASSERTION: dict[str, Callable[[str, str], str]] = {
    "xsw3_evil_assertion_before": xsw_evil_assertion_before,
    "xsw_evil_assertion_after": xsw_evil_assertion_after,
    "xsw_evil_assertion_same_id": xsw_evil_assertion_same_id,
    "xsw4_evil_wraps_signed": xsw_evil_wraps_signed,
    "xsw7_signed_in_extensions": xsw_signed_in_extensions,
    "xsw8_signed_in_object": xsw_signed_in_object,
}
WRAPPING_ON_RESPONSE: dict[str, Callable[[str, str], str]] = {
    "xsw1_evil_response_wraps_signed": xsw_evil_response_wraps_signed,
    "xsw2_evil_response_beside_signed": xsw_evil_response_beside_signed,
}
