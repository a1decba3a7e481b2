"""`quantumlock sso saml` against a real server: configure from fields, show, update from a
metadata file, the NameID as email, removing the SLO URL, refusals (the server's 400, the
CLI's own usage errors, an http metadata URL), delete; and sp-metadata once the browser
routes serve it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from quantumlock.identity.saml import endpoints as saml_pages
from tests.e2e.conftest import CLI, Server, start_server, stop_server
from tests.saml_config import material as m

pytestmark = pytest.mark.e2e


def run(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, "sso", "saml", *args], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == code, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def as_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(run(env, *args, "--json").stdout)


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_server(tmp_path_factory.mktemp("sso-cli"), None)
    try:
        made = json.loads(
            server.cli(
                "accounts", "create", "--name", "V", "--email", "v@example.com", "--json"
            ).stdout
        )
        env = {**server.env, "QCOS_API_KEY": made["api_key"], "QCOS_BASE_URL": server.base_url}
        yield server, env, made["id"]
    finally:
        stop_server(server)


def test_configure_show_update_delete(
    vendor: tuple[Server, dict[str, str], str], tmp_path: Path
) -> None:
    server, env, account_id = vendor
    cert = tmp_path / "idp.pem"
    cert.write_text(m.pem(m.rsa_cert()))
    made = as_json(
        env, "configure", "--entity-id", m.IDP_ENTITY, "--sso-url", m.SSO_URL,
        "--certificate", str(cert), "--preset", "okta", "--group-role", "Eng=admin",
        "--group-role", "All Staff=viewer", "--default-role", "viewer", "--no-jit",
        "--sso-required", "--clock-skew", "30",
    )  # fmt: skip
    assert made["id"].startswith("saml_") and made["account_id"] == account_id
    assert made["preset"] == "okta" and made["attributes"]["name"] == "displayName"
    assert made["group_roles"] == {"Eng": "admin", "All Staff": "viewer"}
    assert made["jit_provisioning"] is False and made["sso_required"] is True
    assert made["clock_skew_seconds"] == 30 and made["default_role"] == "viewer"
    assert made["sp"]["acs_url"] == f"{server.base_url}/saml/{account_id}/acs"
    assert as_json(env, "show") == made
    text = run(env, "show").stdout
    assert m.fingerprint(m.rsa_cert()) in text and made["sp"]["entity_id"] in text

    metadata = tmp_path / "idp.xml"
    metadata.write_text(m.idp_metadata(certs=(m.rsa_cert(), m.ec_cert())))
    updated = as_json(env, "update", "--metadata-file", str(metadata), "--email-from-name-id")
    assert updated["idp"]["slo_url"] == m.SLO_URL and len(updated["idp"]["certificates"]) == 2
    assert updated["attributes"]["email"] is None and updated["sso_required"] is True
    assert updated["sp"] == made["sp"]
    assert "(the NameID)" in run(env, "show").stdout
    assert as_json(env, "update", "--no-slo")["idp"]["slo_url"] is None

    bad = run(env, "update", "--sso-url", "http://idp.example.com/sso", code=2)
    assert "VALIDATION_ERROR" in bad.stderr and "idp_sso_url" in bad.stderr
    assert "USAGE_ERROR" in run(env, "update", "--group-role", "Eng=owner", code=2).stderr
    assert "USAGE_ERROR" in run(env, "update", code=2).stderr
    plain = run(env, "configure", "--metadata-url", "http://idp.example.com/md", code=2)
    assert "https" in plain.stderr
    both = run(
        env, "configure", "--metadata-file", str(metadata), "--metadata-url", "https://x.example",
        code=2,
    )  # fmt: skip
    assert "not both" in both.stderr

    assert as_json(env, "delete") == {"deleted": True}
    gone = run(env, "show", code=2)
    assert "NOT_FOUND" in gone.stderr


@pytest.mark.skipif(
    not saml_pages.router.routes, reason="the SAML browser routes (part B) are not in this tree"
)
def test_sp_metadata(vendor: tuple[Server, dict[str, str], str], tmp_path: Path) -> None:
    _server, env, account_id = vendor
    metadata = tmp_path / "idp.xml"
    metadata.write_text(m.idp_metadata())
    made = as_json(env, "configure", "--metadata-file", str(metadata))
    xml = run(env, "sp-metadata").stdout
    assert "EntityDescriptor" in xml and made["sp"]["entity_id"] in xml
    assert f"/saml/{account_id}/acs" in xml
