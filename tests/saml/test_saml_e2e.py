"""The must-show round trip through a real `quantumlock serve` process: the connection made
through /api/v2/sso/saml from the pysaml2 IdP's metadata, SP-initiated login over HTTP
(signed AuthnRequest checked by the IdP against the SP's signed metadata), the IdP's signed
Response POSTed to the ACS, ending in a `ql_session` cookie for a just-provisioned user with
the role its group maps to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped,unused-ignore]

from tests.e2e.conftest import Server, start_server, stop_server
from tests.saml.idp import KeyPair, TestIdp, User
from tests.saml.support import ADMIN_GROUP, SamlFlow, session_cookie, signed_in, unique_email


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("saml-e2e"), None)
    try:
        yield srv
    finally:
        stop_server(srv)


def new_account(server: Server) -> tuple[str, str]:
    name = "saml-" + unique_email().split("@")[0]
    created = server.cli_json(
        "accounts", "create", "--name", name, "--email", f"{name}@example.com",
        "--plan", "enterprise",
    )  # fmt: skip
    assert isinstance(created, dict)
    return str(created["id"]), str(created["api_key"])


def test_sp_initiated_round_trip_ends_in_a_session_with_the_mapped_role(
    server: Server, tmp_path: Path, idp_keys: KeyPair
) -> None:
    account_id, admin_key = new_account(server)
    idp = TestIdp(tmp_path / "idp", keys=idp_keys)
    with server.client() as http:
        flow = SamlFlow(http, idp, account_id, admin_key)
        connection = flow.configure()
        assert connection["idp"]["entity_id"] == idp.entity_id
        assert connection["idp"]["sso_url"] == idp.sso_url
        assert connection["idp"]["slo_url"] == idp.slo_url
        assert [c["pem"].strip() for c in connection["idp"]["certificates"]] == [
            idp_keys.cert_pem.strip()
        ]
        assert connection["group_roles"][ADMIN_GROUP] == "admin"
        sp = connection["sp"]
        assert sp["acs_url"] == f"{server.base_url}/saml/{account_id}/acs"
        # The SP metadata is signed with the SP key the API shows.
        assert OneLogin_Saml2_Utils.validate_metadata_sign(
            flow.sp_metadata, sp["certificate"], raise_exceptions=True
        )
        assert sp["entity_id"] in flow.sp_metadata and sp["acs_url"] in flow.sp_metadata

        user = User(unique_email("grace"), name="Grace Hopper", groups=["staff", ADMIN_GROUP])
        assert flow.user(user.email) is None
        seen = flow.begin("/dashboard?tab=licenses")  # pysaml2 checked its signature
        assert seen.signature_checked and seen.issuer == sp["entity_id"]
        assert seen.acs_url == sp["acs_url"]
        assert seen.relay_state == "/dashboard?tab=licenses"
        xml = idp.answer(seen, user, session_index="_e2e-session-1")
        answer = flow.post(xml, relay_state=seen.relay_state)
        assert answer.status_code == 303, (answer.text[:800], flow.failure_reasons())
        assert answer.headers["location"] == "/dashboard?tab=licenses"
        assert session_cookie(answer)
        cookie_header = next(
            h for h in answer.headers.get_list("set-cookie") if h.startswith("ql_session=")
        )
        assert "HttpOnly" in cookie_header and "SameSite=lax" in cookie_header

        made = flow.user(user.email)
        assert made is not None and made["role"] == "admin" and made["name"] == "Grace Hopper"
        assert signed_in(http)  # the cookie is a live session
        sessions = flow.sessions_of(made["id"])
        assert len(sessions) == 1
        created = [e for e in flow.events("user.create") if e["object_id"] == made["id"]]
        assert created and created[0]["detail"] == {"via": "saml", "role": "admin"}
        login = flow.events("saml.login")[0]
        assert login["detail"]["name_id"] == user.email
        assert login["detail"].get("provisioned") is True
        assert flow.failure_reasons() == []

        # The same response again: refused, and no second session.
        http.cookies.clear()
        again = flow.post(xml, relay_state=seen.relay_state)
        assert again.status_code == 400 and session_cookie(again) is None
        assert flow.failure_reasons()[0] == "replay"
        assert len(flow.sessions_of(made["id"])) == 1
