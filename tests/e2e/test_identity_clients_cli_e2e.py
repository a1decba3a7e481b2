"""`quantumlock service-accounts` and `quantumlock oauth-clients` against a real server,
through the SDK with QCOS_API_KEY / QCOS_BASE_URL as a vendor runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from tests.e2e.conftest import CLI, Server
from tests.secret_scan import REGISTRY

pytestmark = pytest.mark.e2e


def vendor(server: Server) -> dict[str, str]:
    created = server.cli_json("accounts", "create", "--name", "V", "--email", "v@example.com")
    assert isinstance(created, dict)
    REGISTRY.add(created["api_key"])
    return {**server.env, "QCOS_API_KEY": created["api_key"], "QCOS_BASE_URL": server.base_url}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def ok_json(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_service_accounts_cli(server: Server) -> None:
    env = vendor(server)
    human = run(env, "service-accounts", "create", "--name", "ci", "--scopes", "licenses:read")
    assert human.returncode == 0, human.stderr
    assert "client_secret: secret_" in human.stdout and "client_id: service_" in human.stdout
    assert "shown once" in human.stderr  # the warning, on stderr
    REGISTRY.add(human.stdout.split("client_secret: ")[1].split()[0])

    made = ok_json(env, "service-accounts", "create", "--name", "n", "--scopes", "account:read")
    REGISTRY.add(made["client_secret"])
    sid = made["client_id"]
    assert made["client_secret"].startswith("secret_") and made["scopes"] == ["account:read"]
    listed = ok_json(env, "service-accounts", "list")
    assert {r["client_id"] for r in listed} >= {sid}
    assert made["client_secret"] not in json.dumps(listed)
    got = ok_json(env, "service-accounts", "get", sid)
    assert "client_secret" not in got and got["secrets"][0]["prefix"] == made["secret_prefix"]
    updated = ok_json(env, "service-accounts", "update", sid, "--scopes", "licenses:read")
    assert updated["scopes"] == ["licenses:read"]
    rotated = ok_json(env, "service-accounts", "rotate-secret", sid, "--grace", "1h")
    REGISTRY.add(rotated["client_secret"])
    assert rotated["previous_secrets_expire_at"] is not None
    assert len(ok_json(env, "service-accounts", "get", sid)["secrets"]) == 2
    now = ok_json(env, "service-accounts", "rotate-secret", sid, "--grace", "0")
    REGISTRY.add(now["client_secret"])
    assert now["previous_secrets_expire_at"] is None and len(now["secrets"]) == 1
    assert ok_json(env, "service-accounts", "disable", sid)["status"] == "disabled"
    assert ok_json(env, "service-accounts", "enable", sid)["status"] == "active"
    assert ok_json(env, "service-accounts", "delete", sid) == {"client_id": sid, "deleted": True}
    gone = run(env, "service-accounts", "get", sid)
    assert gone.returncode != 0 and "NOT_FOUND" in gone.stderr
    bad = run(env, "service-accounts", "rotate-secret", sid, "--grace", "soon")
    assert bad.returncode == 2 and "USAGE_ERROR" in bad.stderr


def test_oauth_clients_cli(server: Server, tmp_path: Path) -> None:
    env = vendor(server)
    made = ok_json(
        env,
        "oauth-clients",
        "create",
        "--name",
        "portal",
        "--redirect-uri",
        "https://portal.example/cb",
        "--redirect-uri",
        "http://localhost:8765/cb",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scopes",
        "licenses:read,openid,email",
    )
    REGISTRY.add(made["client_secret"])
    cid = made["client_id"]
    assert made["redirect_uris"] == ["https://portal.example/cb", "http://localhost:8765/cb"]
    assert made["token_endpoint_auth_method"] == "client_secret_basic"
    assert made["id_token_signed_response_alg"] == "ES256"
    public = ok_json(
        env, "oauth-clients", "create", "--name", "app", "--public",
        "--redirect-uri", "http://127.0.0.1:9/cb", "--id-token-alg", "RS256",
    )  # fmt: skip
    assert public["id_token_signed_response_alg"] == "RS256"
    assert public["client_secret"] is None and public["token_endpoint_auth_method"] == "none"

    key = ECKey.generate_key("P-256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    signed = ok_json(
        env, "oauth-clients", "create", "--name", "jwt", "--grant-type", "client_credentials",
        "--scopes", "licenses:read", "--auth-method", "private_key_jwt", "--jwks-file", str(jwks),
    )  # fmt: skip
    assert signed["jwks"]["keys"][0]["kty"] == "EC" and signed["client_secret"] is None
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    refused = run(
        env, "oauth-clients", "create", "--name", "bad", "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt", "--jwks-file", str(private),
    )  # fmt: skip
    assert refused.returncode != 0 and "private key members" in refused.stderr
    evil = run(env, "oauth-clients", "create", "--name", "x", "--redirect-uri", "http://e.example/")
    assert evil.returncode != 0 and "VALIDATION_ERROR" in evil.stderr

    assert {c["client_id"] for c in ok_json(env, "oauth-clients", "list")} == {
        cid,
        public["client_id"],
        signed["client_id"],
    }
    updated = ok_json(env, "oauth-clients", "update", cid, "--name", "portal-2")
    assert updated["name"] == "portal-2" and updated["redirect_uris"] == made["redirect_uris"]
    rs = ok_json(env, "oauth-clients", "update", cid, "--id-token-alg", "RS256")
    assert rs["id_token_signed_response_alg"] == "RS256"
    assert run(env, "oauth-clients", "update", cid, "--id-token-alg", "HS256").returncode != 0
    rotated = ok_json(env, "oauth-clients", "rotate-secret", cid)
    REGISTRY.add(rotated["client_secret"])
    assert ok_json(env, "oauth-clients", "disable", cid)["status"] == "disabled"
    assert ok_json(env, "oauth-clients", "enable", cid)["status"] == "active"
    assert ok_json(env, "oauth-clients", "get", cid)["name"] == "portal-2"
    ok_json(env, "oauth-clients", "delete", cid)
    assert run(env, "oauth-clients", "get", cid).returncode != 0
