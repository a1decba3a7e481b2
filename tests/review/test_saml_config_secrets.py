"""Review of #20 (configuration): the SP's private key is never out of the server's hands:
not in an answer of /api/v2/sso/saml, the audit trail, the logs of configuring, of the SP
metadata and of a sign-in start, nor in the SDK's model (its repr included)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import Client, SamlConnection
from quantumlock.identity.saml.keys import open_sp_key
from quantumlock.identity.saml.service import SamlConfigService
from tests.conftest import AccountFixture
from tests.saml_config import material as m
from tests.saml_config.test_config_api import SAML, fields


def _key_lines(app: FastAPI, account_id: str) -> list[str]:
    runtime = app.state.runtime
    with runtime.unit_of_work() as session:
        conn = SamlConfigService(session, runtime.sealer).get(account_id)
        assert conn is not None
        pem = open_sp_key(runtime.sealer, conn)
    # Every base64 line of the key body: any of them anywhere is a leak, but for those that
    # are also the certificate's (a PKCS#8 RSA key holds the public modulus too).
    # The SP metadata holds the certificate's base64 as one line: compare without breaks.
    public = "".join(line for line in conn.sp_certificate.splitlines() if "-----" not in line)
    lines = pem.splitlines()
    return [line for line in lines if line and "-----" not in line and line not in public]


def test_the_sp_private_key_is_nowhere(
    app: FastAPI, client: TestClient, account: AccountFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []
    made = client.put(SAML, json=fields(), headers=account.headers)
    assert made.status_code == 201, made.text
    seen.append(made.text)
    seen.append(client.patch(SAML, json={"preset": "okta"}, headers=account.headers).text)
    seen.append(client.put(SAML, json=fields(), headers=account.headers).text)
    seen.append(client.get(SAML, headers=account.headers).text)
    seen.append(client.get(f"/saml/{account.id}/metadata").text)
    seen.append(client.get(f"/saml/{account.id}/login", follow_redirects=False).text)
    bad = client.patch(
        SAML, json={"idp_metadata_xml": m.idp_metadata(certs=())}, headers=account.headers
    )
    seen.append(bad.text)
    with Client(api_key=account.admin_key, base_url="http://testserver", http_client=client) as sdk:
        conn = sdk.sso.saml.get()
        assert isinstance(conn, SamlConnection)
        seen.append(repr(conn))
    key_lines = _key_lines(app, account.id)
    seen.append(client.delete(SAML, headers=account.headers).text)
    audit = client.get("/api/v2/audit", params={"limit": 100}, headers=account.headers)
    seen.append(json.dumps(audit.json()))
    captured = capsys.readouterr()
    seen += [captured.out, captured.err]
    text = "\n".join(seen)
    assert "PRIVATE KEY" not in text
    assert not [line for line in key_lines if line in text]
