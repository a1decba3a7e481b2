"""The SAML protocol through OneLogin's python3-saml: its settings for a connection, its
request-data dict from plain values, and the checks of a SAML Response with our reason codes.

No HTTP framework here: the endpoints hand in the base URL, the path and the form or query
values. Signatures are only ever checked by python3-saml (xmlsec); what is ours is the order
of the checks (signature first, so a forged message is reported as such and never by what it
claims), the mapping of python3-saml's error codes to reasons, and the checks python3-saml
does not do as this service needs (exact Recipient/Destination, the connection's clock skew,
at least one NotOnOrAfter, a trusted InResponseTo).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError  # type: ignore[import-untyped]
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request  # type: ignore[import-untyped]
from onelogin.saml2.response import OneLogin_Saml2_Response  # type: ignore[import-untyped]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML  # type: ignore[import-untyped]

from quantumlock.identity.models import SamlConnection
from quantumlock.identity.saml.urls import SpUrls, sp_urls

# A SAMLResponse (base64) bigger than this is refused before it is decoded or parsed.
MAX_RESPONSE_CHARS = 512 * 1024
MAX_ID = 256  # assertion / request IDs we store or look up

_V = OneLogin_Saml2_ValidationError

# python3-saml's validation error codes → our reasons (README, "Signing in with SAML").
_SIGNATURE_CODES = {
    _V.INVALID_SIGNATURE,
    _V.WRONG_SIGNED_ELEMENT,
    _V.ID_NOT_FOUND_IN_SIGNED_ELEMENT,
    _V.DUPLICATED_ID_IN_SIGNED_ELEMENTS,
    _V.INVALID_SIGNED_ELEMENT,
    _V.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS,
    _V.UNEXPECTED_SIGNED_ELEMENTS,
    _V.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
    _V.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
    _V.WRONG_NUMBER_OF_SIGNATURES,
    _V.DEPRECATED_SIGNATURE_METHOD,
    _V.DEPRECATED_DIGEST_METHOD,
}
_REASONS: dict[int, str] = {
    **dict.fromkeys(_SIGNATURE_CODES, "invalid_signature"),
    _V.NO_SIGNED_MESSAGE: "unsigned",
    _V.NO_SIGNED_ASSERTION: "unsigned",
    _V.NO_SIGNATURE_FOUND: "unsigned",
    _V.WRONG_INRESPONSETO: "unknown_request",
    _V.ASSERTION_TOO_EARLY: "not_yet_valid",
    _V.ASSERTION_EXPIRED: "expired",
    _V.SESSION_EXPIRED: "expired",
    _V.RESPONSE_EXPIRED: "expired",
    _V.WRONG_DESTINATION: "wrong_destination",
    _V.EMPTY_DESTINATION: "wrong_destination",
    _V.WRONG_AUDIENCE: "wrong_audience",
    _V.SP_NAME_QUALIFIER_NAME_MISMATCH: "wrong_audience",
    _V.WRONG_ISSUER: "wrong_issuer",
    _V.ISSUER_MULTIPLE_IN_RESPONSE: "wrong_issuer",
    _V.ISSUER_NOT_FOUND_IN_ASSERTION: "wrong_issuer",
}


class SamlRefusal(Exception):
    """A SAML message refused, with a reason code (the audit's and the page's)."""

    def __init__(self, reason: str, message: str = "", **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message[:300]
        self.detail = detail


def reason_of(error: BaseException) -> str:
    """The reason code for an exception python3-saml raised while validating a response."""
    code = getattr(error, "code", None)
    if isinstance(error, OneLogin_Saml2_ValidationError) and isinstance(code, int):
        return _REASONS.get(code, "malformed")
    return "malformed"


# -- settings and request data ----------------------------------------------------------------


def base_url_parts(base_url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path prefix) of the service's public base URL."""
    parts = urlsplit(base_url)
    return parts.scheme or "http", parts.netloc, parts.path.rstrip("/")


def settings_for(
    connection: SamlConnection,
    *,
    sp_private_key: str,
    base_url: str,
    want_messages_signed: bool = False,
    for_metadata: bool = False,
) -> dict[str, Any]:
    """python3-saml's settings dict for a connection.

    Responses: neither `wantAssertionsSigned` nor `wantMessagesSigned` (setting both would
    require both); python3-saml then still refuses a response with no signature on the
    Response nor the Assertion (NO_SIGNATURE_FOUND), and `check_response` checks signatures
    first. Logout messages (HTTP-Redirect) are checked with `want_messages_signed`, without
    which python3-saml accepts an unsigned one. The metadata says WantAssertionsSigned so
    that IdPs sign the assertion (what they all do)."""
    urls = sp_urls(base_url, connection.account_id)
    certificates = [c for c in connection.idp_certificates if c]
    idp: dict[str, Any] = {
        "entityId": connection.idp_entity_id,
        "singleSignOnService": {
            "url": connection.idp_sso_url,
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        },
        "x509cert": certificates[0] if certificates else "",
        "x509certMulti": {"signing": certificates, "encryption": certificates[:1]},
    }
    if connection.idp_slo_url:
        idp["singleLogoutService"] = {
            "url": connection.idp_slo_url,
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        }
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": urls.entity_id,
            "assertionConsumerService": {
                "url": urls.acs,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
            },
            "singleLogoutService": {
                "url": urls.slo,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
            },
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
            "x509cert": connection.sp_certificate,
            "privateKey": sp_private_key,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            "signMetadata": for_metadata,
            "wantAssertionsSigned": for_metadata,
            "wantMessagesSigned": want_messages_signed,
            "wantNameId": True,
            # Some IdPs send no attribute at all when the NameID is the email.
            "wantAttributeStatement": False,
            # No AuthnContext asked for: the IdP's policy (MFA, Kerberos…) is its own.
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
            # The SP's own URLs may sit on a single-label host (http://quantumlock:8000);
            # the IdP's are checked by the configuration part.
            "allowSingleLabelDomains": True,
        },
    }


def request_data(
    base_url: str,
    path: str,
    *,
    post: Mapping[str, str] | None = None,
    get: Mapping[str, str] | None = None,
    query_string: str = "",
) -> dict[str, Any]:
    """python3-saml's request dict. The URL it checks Destination and Recipient against is
    the service's public base URL plus the route's path, never the request's Host header."""
    scheme, host, prefix = base_url_parts(base_url)
    return {
        "https": "on" if scheme == "https" else "off",
        "http_host": host,
        "script_name": prefix,
        "path_info": path,
        "get_data": dict(get or {}),
        "post_data": dict(post or {}),
        "query_string": query_string,
        # Logout messages: verify the signature over the query string as the IdP encoded it.
        "validate_signature_from_qs": bool(query_string),
    }


def sp_metadata(settings: dict[str, Any]) -> str:
    """The SP metadata XML, signed with the SP key (python3-saml's builder and signer)."""
    built = OneLogin_Saml2_Settings(settings, sp_validation_only=True)
    xml = built.get_sp_metadata()
    return xml.decode() if isinstance(xml, bytes) else str(xml)


# -- AuthnRequest / LogoutRequest ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    request_id: str | None


def authn_request(settings: dict[str, Any], base_url: str, urls: SpUrls, relay: str) -> Redirect:
    """The IdP's SSO URL with a signed AuthnRequest (HTTP-Redirect: SigAlg + Signature)."""
    path = urlsplit(urls.login).path
    auth = OneLogin_Saml2_Auth(request_data(base_url, path), settings)
    url = auth.login(return_to=relay)
    return Redirect(url=str(url), request_id=auth.get_last_request_id())


def logout_request(
    settings: dict[str, Any],
    base_url: str,
    urls: SpUrls,
    *,
    name_id: str,
    session_index: str | None,
    relay: str,
) -> Redirect:
    """The IdP's SLO URL with a signed LogoutRequest naming the session."""
    path = urlsplit(urls.logout).path
    auth = OneLogin_Saml2_Auth(request_data(base_url, path), settings)
    url = auth.logout(return_to=relay, name_id=name_id, session_index=session_index)
    return Redirect(url=str(url), request_id=auth.get_last_request_id())


@dataclass(frozen=True, slots=True)
class SloOutcome:
    """What the IdP sent to the SLO URL: its LogoutRequest (with who to sign out, and the
    URL of our signed LogoutResponse) or its LogoutResponse (`redirect` None)."""

    kind: str  # request | response
    name_id: str | None = None
    session_indexes: tuple[str, ...] = ()
    redirect: str | None = None
    # The LogoutRequest's ID and times: it is accepted once (the caller keeps the ID).
    request_id: str | None = None
    issued_at: datetime | None = None
    not_on_or_after: datetime | None = None


def process_slo(
    settings: dict[str, Any], base_url: str, urls: SpUrls, query: Mapping[str, str], raw: str
) -> SloOutcome:
    """Validate the IdP's LogoutRequest or LogoutResponse (signature against the IdP's
    certificates, issuer, destination) with python3-saml; SamlRefusal when refused."""
    if "SAMLRequest" not in query and "SAMLResponse" not in query:
        raise SamlRefusal("malformed", "No SAMLRequest nor SAMLResponse.")
    if "Signature" not in query:
        raise SamlRefusal("unsigned", "The logout message is not signed.")
    path = urlsplit(urls.slo).path
    data = request_data(base_url, path, get=query, query_string=raw)
    try:
        auth = OneLogin_Saml2_Auth(data, settings)
        redirect = auth.process_slo(keep_local_session=True)
    except Exception as error:  # a bad message is the sender's error, never a 500
        raise SamlRefusal("malformed", str(error)) from None
    errors = auth.get_errors()
    if errors:
        text = " ".join(str(e) for e in errors)
        reason = "invalid_signature" if "signature" in text else "malformed"
        raise SamlRefusal(reason, str(auth.get_last_error_reason() or text))
    if "SAMLRequest" not in query:
        return SloOutcome(kind="response")
    xml = auth.get_last_request_xml()
    try:
        name_id = OneLogin_Saml2_Logout_Request.get_nameid(xml)
        indexes = OneLogin_Saml2_Logout_Request.get_session_indexes(xml)
        request_id = OneLogin_Saml2_Logout_Request.get_id(xml)
        root = OneLogin_Saml2_XML.to_etree(xml)
    except Exception as error:
        raise SamlRefusal("malformed", str(error)) from None
    issued_at = _time(root.get("IssueInstant"))
    if not request_id or len(str(request_id)) > MAX_ID or issued_at is None:
        raise SamlRefusal("malformed", "The LogoutRequest has no usable ID or IssueInstant.")
    return SloOutcome(
        kind="request",
        name_id=str(name_id) if name_id else None,
        session_indexes=tuple(str(i) for i in indexes or () if i),
        redirect=str(redirect),
        request_id=str(request_id),
        issued_at=issued_at,
        not_on_or_after=_time(root.get("NotOnOrAfter")),
    )


# -- the response -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assertion:
    """What the ACS takes from a validated response: all read from the signed assertion
    (python3-saml's `_query_assertion` selects it by the signed ID)."""

    assertion_id: str
    name_id: str
    name_id_format: str | None
    session_index: str | None
    in_response_to: str | None  # only when a signature covers it
    attributes: dict[str, list[str]] = field(default_factory=dict)
    not_on_or_after: datetime | None = None  # the latest of Conditions and SubjectConfirmation


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC)
    except Exception:
        raise SamlRefusal("malformed", "A timestamp could not be read.") from None


def decode_response(value: str) -> None:
    """Refuse what is not worth handing to the XML parser: too big, or not base64."""
    if len(value) > MAX_RESPONSE_CHARS:
        raise SamlRefusal("malformed", "The SAMLResponse is too large.")
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SamlRefusal("malformed", "The SAMLResponse is not base64.") from None


def _exact_url(a: str, b: str) -> bool:
    return str(OneLogin_Saml2_Utils.normalize_url(a)) == str(OneLogin_Saml2_Utils.normalize_url(b))


def _bearer_confirmations(response: Any) -> list[Any]:
    nodes = response._query_assertion("/saml:Subject/saml:SubjectConfirmation")
    found = []
    for node in nodes:
        method = node.get("Method")
        if method and method != OneLogin_Saml2_Constants.CM_BEARER:
            continue
        data = node.find("saml:SubjectConfirmationData", namespaces=OneLogin_Saml2_Constants.NSMAP)
        if data is not None:
            found.append(data)
    return found


def _subject_confirmation_reason(response: Any, acs_url: str, now: datetime) -> str:
    """Why python3-saml found no valid SubjectConfirmation (it says only that it found none)."""
    reasons = []
    for data in _bearer_confirmations(response):
        recipient = data.get("Recipient")
        not_after = _time(data.get("NotOnOrAfter"))
        not_before = _time(data.get("NotBefore"))
        if recipient and not _exact_url(recipient, acs_url):
            reasons.append("wrong_recipient")
        elif not_after is not None and not_after <= now:
            reasons.append("expired")
        elif not_before is not None and not_before > now:
            reasons.append("not_yet_valid")
        else:
            reasons.append("unknown_request")  # its InResponseTo differs from the Response's
    return reasons[0] if reasons else "malformed"


def _confirmed_within_skew(
    response: Any, acs_url: str, response_irt: str | None, skew_seconds: int, now: datetime
) -> bool:
    """python3-saml's SubjectConfirmation test (bearer, InResponseTo consistent with the
    Response's) with an exact Recipient, and its times allowing the connection's skew."""
    skew = timedelta(seconds=skew_seconds)
    for data in _bearer_confirmations(response):
        irt = data.get("InResponseTo")
        if response_irt and irt and irt != response_irt:
            continue
        recipient = data.get("Recipient")
        if not recipient or not _exact_url(recipient, acs_url):
            continue
        not_after = _time(data.get("NotOnOrAfter"))
        not_before = _time(data.get("NotBefore"))
        if not_after is not None and not_after + skew <= now:
            continue
        if not_before is not None and not_before > now + skew:
            continue
        return True
    return False


def _signature_first(response: Any, settings: OneLogin_Saml2_Settings) -> bool:
    """Check the signatures before anything the message claims; True when the Response
    element itself is signed. python3-saml's own functions: its structure checks (one
    assertion, signed elements are the Response or the Assertion, Reference URI = the
    element's ID, no duplicates: its XML signature wrapping defences) and xmlsec."""
    document = response.document
    has_signature = bool(OneLogin_Saml2_XML.query(document, "//ds:Signature"))
    if not has_signature:
        raise SamlRefusal("unsigned", "Neither the response nor its assertion is signed.")
    if not response.validate_num_assertions():
        raise SamlRefusal("invalid_signature", "The response must hold exactly one assertion.")
    if response.encrypted:
        raise SamlRefusal("malformed", "Encrypted assertions are not supported.")
    try:
        signed = response.process_signed_elements()
    except OneLogin_Saml2_ValidationError as error:
        raise SamlRefusal(reason_of(error), str(error)) from None
    response_tag = f"{{{OneLogin_Saml2_Constants.NS_SAMLP}}}Response"
    assertion_tag = f"{{{OneLogin_Saml2_Constants.NS_SAML}}}Assertion"
    if response_tag not in signed and assertion_tag not in signed:
        raise SamlRefusal("unsigned", "Neither the response nor its assertion is signed.")
    idp = settings.get_idp_data()
    certificates = idp.get("x509certMulti", {}).get("signing") or [idp.get("x509cert")]
    for tag, xpath in (
        (response_tag, OneLogin_Saml2_Utils.RESPONSE_SIGNATURE_XPATH),
        (assertion_tag, OneLogin_Saml2_Utils.ASSERTION_SIGNATURE_XPATH),
    ):
        if tag in signed and not OneLogin_Saml2_Utils.validate_sign(
            document, None, None, None, xpath=xpath, multicerts=certificates
        ):
            raise SamlRefusal(
                "invalid_signature",
                "The signature does not verify with the identity provider's certificates.",
            )
    return bool(response_tag in signed)


def check_response(
    settings_dict: dict[str, Any],
    data: dict[str, Any],
    *,
    skew_seconds: int,
    now: datetime | None = None,
) -> Assertion:
    """Validate the POSTed SAMLResponse: signature first, then python3-saml's strict
    checks (`OneLogin_Saml2_Response.is_valid`, what `Auth.process_response` runs, called
    directly for its error code), then ours. SamlRefusal with the reason when refused;
    never anything else.

    The InResponseTo is only trusted where a signature covers it: in the signed
    assertion's SubjectConfirmationData, or on a signed Response. The caller matches it
    with a stored request (or treats the response as IdP-initiated when there is none)."""
    now = now or datetime.now(UTC)
    value = data.get("post_data", {}).get("SAMLResponse")
    if not isinstance(value, str) or not value:
        raise SamlRefusal("malformed", "No SAMLResponse in the form.")
    decode_response(value)
    try:
        settings = OneLogin_Saml2_Settings(settings_dict)
    except Exception:
        raise SamlRefusal("malformed", "The connection's settings are not usable.") from None
    try:
        response = OneLogin_Saml2_Response(settings, value)
    except Exception:  # not XML, a DTD or entity, an encrypted part we cannot read
        raise SamlRefusal("malformed", "The SAMLResponse is not a readable SAML message.") from None
    try:
        return _check(response, settings, data, skew_seconds, now)
    except SamlRefusal:
        raise
    except Exception as error:
        raise SamlRefusal(reason_of(error), str(error)) from None


def _check(
    response: Any,
    settings: OneLogin_Saml2_Settings,
    data: dict[str, Any],
    skew_seconds: int,
    now: datetime,
) -> Assertion:
    if response.document.tag != f"{{{OneLogin_Saml2_Constants.NS_SAMLP}}}Response":
        raise SamlRefusal("malformed", "Not a SAML Response.")
    response_signed = _signature_first(response, settings)
    acs_url = settings.get_sp_data()["assertionConsumerService"]["url"]
    # The trusted InResponseTo: from the signed assertion's SubjectConfirmationData, else
    # from the Response only if the Response is signed.
    confirmation_irts = {
        irt for d in _bearer_confirmations(response) if (irt := d.get("InResponseTo"))
    }
    if len(confirmation_irts) > 1:
        raise SamlRefusal("malformed", "Conflicting InResponseTo values.")
    response_irt = response.document.get("InResponseTo") or None
    if confirmation_irts:
        in_response_to: str | None = next(iter(confirmation_irts))
    else:
        in_response_to = response_irt if response_signed else None
    try:
        response.is_valid(data, request_id=in_response_to, raise_exceptions=True)
    except OneLogin_Saml2_ValidationError as error:
        # python3-saml checks SubjectConfirmationData's times with no clock skew at all,
        # and that is its last check but the signatures' (done above, by the same calls):
        # a confirmation valid within the connection's skew is accepted.
        if error.code != _V.WRONG_SUBJECTCONFIRMATION or not _confirmed_within_skew(
            response, acs_url, response_irt, skew_seconds, now
        ):
            reason = reason_of(error)
            if error.code == _V.WRONG_SUBJECTCONFIRMATION:
                reason = _subject_confirmation_reason(response, acs_url, now)
            raise SamlRefusal(reason, str(error)) from None
    # Exact addresses: python3-saml accepts a Destination that merely starts with the ACS
    # URL and a Recipient that merely contains it.
    destination = response.document.get("Destination")
    if destination and not _exact_url(destination, acs_url):
        raise SamlRefusal("wrong_destination", "The response is for another address.")
    confirmations = _bearer_confirmations(response)
    if not any(
        d.get("Recipient") and _exact_url(d.get("Recipient"), acs_url) for d in confirmations
    ):
        raise SamlRefusal("wrong_recipient", "The assertion is for another address.")
    not_on_or_after = _check_times(response, confirmations, skew_seconds, now)
    name_id_data = response.get_nameid_data()
    name_id = name_id_data.get("Value")
    if not isinstance(name_id, str) or not name_id.strip():
        raise SamlRefusal("malformed", "The assertion has no NameID.")
    assertion_id = response.get_assertion_id()
    if not isinstance(assertion_id, str) or not assertion_id or len(assertion_id) > MAX_ID:
        raise SamlRefusal("malformed", "The assertion has no usable ID.")
    attributes: dict[str, list[str]] = {}
    for key, values in response.get_attributes().items():
        attributes[str(key)] = [v for v in values if isinstance(v, str)]
    session_index = response.get_session_index()
    return Assertion(
        assertion_id=assertion_id,
        name_id=name_id.strip(),
        name_id_format=name_id_data.get("Format"),
        session_index=str(session_index)[:255] if session_index else None,
        in_response_to=in_response_to,
        attributes=attributes,
        not_on_or_after=not_on_or_after,
    )


def _check_times(
    response: Any, confirmations: Sequence[Any], skew_seconds: int, now: datetime
) -> datetime:
    """The connection's clock skew on the validated assertion (python3-saml allows a fixed
    300 s on Conditions, and none on SubjectConfirmationData NotOnOrAfter). At least one
    NotOnOrAfter is required: an assertion valid for ever could be replayed for ever."""
    skew = timedelta(seconds=skew_seconds)
    ends: list[datetime] = []
    for node in response._query_assertion("/saml:Conditions"):
        not_before = _time(node.get("NotBefore"))
        not_after = _time(node.get("NotOnOrAfter"))
        if not_before is not None and not_before > now + skew:
            raise SamlRefusal("not_yet_valid", "The assertion is not valid yet.")
        if not_after is not None:
            if not_after + skew <= now:
                raise SamlRefusal("expired", "The assertion has expired.")
            ends.append(not_after)
    for data in confirmations:
        not_before = _time(data.get("NotBefore"))
        not_after = _time(data.get("NotOnOrAfter"))
        if not_before is not None and not_before > now + skew:
            raise SamlRefusal("not_yet_valid", "The assertion is not valid yet.")
        if not_after is not None:
            if not_after + skew <= now:
                raise SamlRefusal("expired", "The assertion has expired.")
            ends.append(not_after)
    if not ends:
        raise SamlRefusal("malformed", "The assertion has no NotOnOrAfter.")
    return max(ends)
