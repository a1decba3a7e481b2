"""`client.sso.saml` (sync and async) against the real app in-process: configure from
fields and from metadata, update (incl. the NameID as email and removing the SLO URL),
get, delete, and the typed errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from qcos import (
    AsyncClient,
    Client,
    NotFoundError,
    PermissionDeniedError,
    SamlConnection,
    ValidationError,
)
from tests.conftest import AccountFixture
from tests.saml_config import material as m

BASE = "http://testserver"


def test_saml_sync(client: TestClient, account: AccountFixture) -> None:
    with Client(api_key=account.admin_key, base_url=BASE, http_client=client) as sdk:
        with pytest.raises(NotFoundError):
            sdk.sso.saml.get()
        made = sdk.sso.saml.configure(
            idp_entity_id=m.IDP_ENTITY,
            idp_sso_url=m.SSO_URL,
            idp_certificates=[m.pem(m.rsa_cert())],
            preset="okta",
            group_roles={"Engineering": "admin"},
            default_role="viewer",
        )
        assert isinstance(made, SamlConnection) and made.id.startswith("saml_")
        assert made.preset == "okta" and made.attributes.name == "displayName"
        assert made.group_roles == {"Engineering": "admin"} and made.default_role == "viewer"
        assert made.idp.certificates[0].fingerprint_sha256 == m.fingerprint(m.rsa_cert())
        assert made.sp.acs_url == f"{BASE}/saml/{account.id}/acs"
        assert sdk.last_response is not None and sdk.last_response.status_code == 201

        updated = sdk.sso.saml.update(
            idp_metadata_xml=m.idp_metadata(), attributes={"email": None}, sso_required=True
        )
        assert updated.idp.slo_url == m.SLO_URL and updated.attributes.email is None
        assert updated.sso_required and updated.sp == made.sp
        no_slo = sdk.sso.saml.update(remove_slo_url=True)
        assert no_slo.idp.slo_url is None and no_slo.sso_required
        assert sdk.sso.saml.get() == no_slo

        with pytest.raises(ValidationError) as bad:
            sdk.sso.saml.update(idp_sso_url="http://idp.example.com/")
        assert "idp_sso_url" in str(bad.value)
        sdk.sso.saml.delete()
        with pytest.raises(NotFoundError):
            sdk.sso.saml.delete()


def test_saml_async(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    test_key = client.post(
        "/api/v2/keys",
        json={"name": "t", "type": "test", "scopes": ["admin"]},
        headers=account.headers,
    ).json()["data"]["key"]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        http = httpx.AsyncClient(transport=transport, base_url=BASE)
        async with AsyncClient(api_key=account.admin_key, base_url=BASE, http_client=http) as sdk:
            made = await sdk.sso.saml.configure(idp_metadata_xml=m.idp_metadata())
            assert made.idp.entity_id == m.IDP_ENTITY
            assert (await sdk.sso.saml.update(enabled=False)).enabled is False
            assert (await sdk.sso.saml.get()).enabled is False
            async with AsyncClient(api_key=test_key, base_url=BASE, http_client=http) as sandbox:
                assert (await sandbox.sso.saml.get()).id == made.id
                with pytest.raises(PermissionDeniedError):
                    await sandbox.sso.saml.update(enabled=True)
            await sdk.sso.saml.delete()
            with pytest.raises(NotFoundError):
                await sdk.sso.saml.get()

    asyncio.run(scenario())
