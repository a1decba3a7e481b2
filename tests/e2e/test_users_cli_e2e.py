"""`quantumlock users` and `accounts create --owner-email` against a real server: the
operator's one-time links (and --password-stdin), then the vendor commands through the SDK,
and a sign-in with the password set through the link."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLI, start_server, stop_server

pytestmark = pytest.mark.e2e

PASSWORD = "Quiet-river-lamp-42"


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [*CLI, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def set_password(url: str, password: str) -> None:
    with httpx.Client(timeout=10) as http:
        page = http.get(url)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        done = http.post(
            url, data={"csrf_token": csrf.group(1), "password": password, "confirm": password}
        )
        assert done.status_code == 200, done.text


def sign_in(base: str, email: str, password: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text)
        assert csrf
        done = http.post(
            "/login",
            data={"csrf_token": csrf.group(1), "email": email, "password": password},
            follow_redirects=False,
        )
        assert done.status_code == 303 and "ql_session=" in done.headers["set-cookie"]


def test_operator_and_vendor_user_commands(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv", None)
    try:
        env = {**server.env, "QL_ISSUER": server.base_url}
        made = json.loads(
            run(
                env,
                "accounts",
                "create",
                "--name",
                "V",
                "--email",
                "v@example.com",
                "--owner-email",
                "Owner@Example.com",
                "--json",
            )
        )
        owner = made["owner"]
        assert owner["role"] == "owner" and owner["email"] == "owner@example.com"
        link = owner["set_password_url"]
        assert link.startswith(server.base_url + "/login/set-password/")
        set_password(link, PASSWORD)
        sign_in(server.base_url, "owner@example.com", PASSWORD)

        # Without QL_ISSUER the operator's link says where the server listens by default.
        plain = {k: v for k, v in server.env.items() if k != "QL_ISSUER"}
        text = run(
            plain,
            "users",
            "create",
            "--account",
            made["id"],
            "--email",
            "m@example.com",
            "--role",
            "member",
        )
        assert "http://127.0.0.1:8000/login/set-password/" in text
        with_pw = json.loads(
            run(
                env,
                "users",
                "create",
                "--account",
                made["id"],
                "--email",
                "p@example.com",
                "--role",
                "viewer",
                "--password-stdin",
                "--json",
                stdin=PASSWORD + "\n",
            )
        )
        assert with_pw["set_password_url"] is None and with_pw["has_password"] is True
        sign_in(server.base_url, "p@example.com", PASSWORD)

        vendor = {**env, "QCOS_API_KEY": made["api_key"], "QCOS_BASE_URL": server.base_url}
        listed = json.loads(run(vendor, "users", "list", "--json"))
        assert {u["email"] for u in listed} == {
            "owner@example.com",
            "m@example.com",
            "p@example.com",
        }
        uid = with_pw["id"]
        assert json.loads(run(vendor, "users", "get", uid, "--json"))["role"] == "viewer"
        updated = json.loads(run(vendor, "users", "update", uid, "--role", "member", "--json"))
        assert updated["role"] == "member"
        sessions = json.loads(run(vendor, "users", "sessions", uid, "--json"))
        assert len(sessions) == 1 and "token" not in json.dumps(sessions)
        revoked = json.loads(run(vendor, "users", "revoke-sessions", uid, "--json"))
        assert revoked == {"id": uid, "revoked": 1}
        assert json.loads(run(vendor, "users", "disable", uid, "--json"))["status"] == "disabled"
        assert json.loads(run(vendor, "users", "enable", uid, "--json"))["status"] == "active"
        reset = json.loads(run(vendor, "users", "password-link", uid, "--json"))
        assert reset["url"].startswith(server.base_url + "/login/set-password/")
        run(vendor, "users", "delete", uid)
        assert uid not in run(vendor, "users", "list", "--json")
        trail = json.loads(run(vendor, "audit", "--json", "--type", "user.login"))
        assert trail and "address" in json.dumps(trail)
    finally:
        stop_server(server)
