"""The CLI's two roles against a real `quantumlock serve` process.

Vendor: from an EMPTY directory with nothing but QCOS_API_KEY and QCOS_BASE_URL, create a key,
generate a license, get its file, and verify it offline (the server stopped). Profiles saved
by `login`. Operator: the data dir found from QL_DATA_DIR, the config file or the current
directory, named in every error, and `init` never silently making a second deployment.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, Server, isolated_env, start_server, stop_server

pytestmark = pytest.mark.e2e


def run(
    env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def vendor_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A vendor's shell: no data dir, no master key, no database URL."""
    env = isolated_env(tmp)
    for name in ("QL_DATA_DIR", "QL_MASTER_KEY", "QL_DATABASE_URL"):
        env.pop(name, None)
    return {**env, **extra}


def test_vendor_session_from_an_empty_directory(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    try:
        admin = json.loads(
            server.cli("accounts", "create", "--name", "V", "--email", "v@example.com", "--json")
            .stdout
        )  # fmt: skip
        env = vendor_env(
            tmp_path / "vendor", QCOS_API_KEY=admin["api_key"], QCOS_BASE_URL=server.base_url
        )
        # 1. A key, through the API (no --account, no data dir anywhere).
        issuer = json.loads(
            ok(
                run(
                    env, empty, "keys", "create", "--name", "issuer",
                    "--scopes", "licenses:read,licenses:write,licenses:validate", "--json",
                )
            )
        )  # fmt: skip
        assert issuer["type"] == "restricted" and issuer["key"].startswith("qcos_rkey_")
        assert issuer["created_at"].endswith("Z")  # as the API writes it
        listed = ok(run(env, empty, "keys", "list"))
        assert issuer["id"] in listed  # the whole id, never cut
        env["QCOS_API_KEY"] = issuer["key"]

        # 2. A license, with that key.
        lic = json.loads(
            ok(
                run(
                    env, empty, "licenses", "generate", "--customer", "c@example.com",
                    "--features", "premium,api", "--json",
                )
            )
        )  # fmt: skip
        assert lic["license_file"].startswith("qlf1.") and lic["features"] == ["premium", "api"]

        # 3. Its offline file, and the public keys.
        ok(run(env, empty, "licenses", "get", lic["license_key"], "--out", "license.qlf"))
        ok(run(env, empty, "licenses", "signing-keys", "--out", "keys.json"))
        assert (empty / "license.qlf").read_text().strip() == lic["license_file"]
        assert sorted(p.name for p in empty.iterdir()) == ["keys.json", "license.qlf"]
    finally:
        stop_server(server)

    # 4. Offline: the server is gone, and so are the API settings.
    offline = vendor_env(tmp_path / "offline")
    verify = ("licenses", "verify", "license.qlf", "--public-keys", "keys.json")
    good = run(offline, empty, *verify, "--customer", "c@example.com", "--features", "premium")
    assert good.returncode == 0 and "VALID" in good.stdout, good.stderr
    missing = run(offline, empty, *verify, "--features", "premium,gold", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["code"] == "FEATURES_MISSING"
    assert sorted(p.name for p in empty.iterdir()) == ["keys.json", "license.qlf"]


def test_login_profiles_and_logout(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv", None)
    here = tmp_path / "cwd"
    here.mkdir()
    try:
        admin = json.loads(
            server.cli("accounts", "create", "--name", "P", "--email", "p@example.com", "--json")
            .stdout
        )  # fmt: skip
        key = admin["api_key"]
        env = vendor_env(tmp_path / "home")
        config = tmp_path / "home" / "config" / "quantumlock" / "config.toml"

        missing = run(env, here, "keys", "list")
        assert missing.returncode == 2
        assert missing.stderr.startswith("error: NO_API_KEY: no API key") and str(config) in (
            missing.stderr
        )
        # The key from stdin (as the hidden prompt reads it), never echoed back whole.
        saved = run(env, here, "login", "--base-url", server.base_url, stdin=key + "\n")
        assert ok(saved) and key not in saved.stdout + saved.stderr and key[:14] in saved.stdout
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
        who = json.loads(ok(run(env, here, "whoami", "--json")))
        assert who["account_id"] == admin["id"] and who["key"] != key
        assert json.loads(ok(run(env, here, "keys", "list", "--json")))  # the profile's key

        named = run(
            env, here, "login", "--profile", "other", "--api-key", key, "--base-url",
            server.base_url,
        )  # fmt: skip
        ok(named)
        assert ok(run(env, here, "whoami", "--profile", "other"))
        unknown = run(env, here, "whoami", "--profile", "nope")
        assert unknown.returncode == 2 and "NO_PROFILE" in unknown.stderr
        # A wrong key is refused at login and not saved.
        bad = run(env, here, "login", "--profile", "bad", "--api-key", key[:-6] + "AAAAAA",
                  "--base-url", server.base_url)  # fmt: skip
        assert (
            bad.returncode == 2
            and "UNAUTHORIZED" in bad.stderr
            and "bad" not in (config.read_text())
        )
        ok(run(env, here, "logout", "--profile", "other"))
        ok(run(env, here, "logout"))
        assert not config.exists()
    finally:
        stop_server(server)


def test_operator_finds_its_data_dir_and_init_never_doubles_it(tmp_path: Path) -> None:
    env = vendor_env(tmp_path / "home")
    config = tmp_path / "home" / "config" / "quantumlock" / "config.toml"
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()

    # Nothing anywhere: the error names the path it looked at, and how it got there.
    lost = run(env, elsewhere, "accounts", "list")
    assert lost.returncode == 1 and lost.stderr.startswith("error: ")
    assert str(elsewhere / ".quantumlock") in lost.stderr and "current directory" in lost.stderr

    made = json.loads(ok(run(env, first, "init", "--no-bootstrap", "--json")))
    assert (made["data_dir"], made["data_dir_from"]) == (str(first / ".quantumlock"), "cwd")
    assert (first / ".quantumlock" / "master.key").exists()
    assert str(first / ".quantumlock") in config.read_text()

    # From another directory: the recorded deployment, said so, and no second one.
    again = run(env, elsewhere, "init", "--no-bootstrap")
    ok(again)
    assert str(first / ".quantumlock") in again.stderr and "--data-dir" in again.stderr
    assert not (elsewhere / ".quantumlock").exists()
    ok(run(env, elsewhere, "accounts", "create", "--name", "A", "--email", "a@example.com"))
    # An error in the deployment says which deployment: the wrong one is a common cause.
    missing = run(env, elsewhere, "accounts", "set-limits", "cust_nope", "--burst", "5")
    assert missing.returncode == 1 and missing.stderr.startswith("error: NOT_FOUND: ")
    assert f"{first / '.quantumlock'} (from {config})" in missing.stderr
    assert len(json.loads(ok(run(env, first, "accounts", "list", "--json")))) == 1

    # A second deployment only when asked for by name, and never silently.
    second = run(env, elsewhere, "init", "--no-bootstrap", "--data-dir", ".quantumlock")
    ok(second)
    assert "separate deployment" in second.stderr
    assert (elsewhere / ".quantumlock" / "master.key").exists()
    assert ok(run(env, elsewhere, "--data-dir", ".quantumlock", "accounts", "list", "--json"))
    assert (
        json.loads(
            ok(run(env, elsewhere, "--data-dir", ".quantumlock", "accounts", "list", "--json"))
        )
        == []
    )
    assert str(first / ".quantumlock") in config.read_text()  # the record stays

    # The recorded deployment gone: init refuses to recreate it silently.
    os.rename(first / ".quantumlock", first / "moved")
    refused = run(env, elsewhere, "init")
    assert refused.returncode == 1 and "DEPLOYMENT_MISSING" in refused.stderr
    assert str(first / ".quantumlock") in refused.stderr


def test_files_are_signed_by_their_digest(server: Server, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from quantumlock.crypto.algorithms import signed_bytes

    admin = server.cli_json("accounts", "create", "--name", "F", "--email", "f@example.com")
    assert isinstance(admin, dict)
    env = vendor_env(tmp_path, QCOS_API_KEY=admin["api_key"], QCOS_BASE_URL=server.base_url)
    data = os.urandom(3 * 1024 * 1024 + 7)  # several hashing chunks, more than a request body
    (tmp_path / "release.bin").write_bytes(data)
    ok(run(env, tmp_path, "crypto", "sign", "release.bin", "--out", "sig.json"))
    sig = json.loads((tmp_path / "sig.json").read_text())
    assert (sig["mode"], sig["digest_algorithm"], sig["size"]) == (
        "sha512-digest", "SHA-512", len(data),
    )  # fmt: skip
    assert sig["digest"] == hashlib.sha512(data).hexdigest()
    # What the server signed, rebuilt by anyone with the public key: no server needed.
    statement = b"QL-FILE-DIGEST-v1\x00SHA-512\x00" + hashlib.sha512(data).digest()
    public = load_pem_public_key(sig["public_key"].encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(
        base64.b64decode(sig["signature"]),
        signed_bytes("Ed25519", bytes.fromhex(sig["quantum_nonce"]), statement),
    )

    verify = ("crypto", "verify", "release.bin", "--signature", "sig.json", "--json")
    assert json.loads(ok(run(env, tmp_path, *verify)))["valid"] is True
    (tmp_path / "release.bin").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert run(env, tmp_path, *verify).returncode == 1
    # A digest field edited to match the changed file does not help: the signature decides.
    sig["digest"] = hashlib.sha512((tmp_path / "release.bin").read_bytes()).hexdigest()
    (tmp_path / "sig.json").write_text(json.dumps(sig))
    assert run(env, tmp_path, *verify).returncode == 1

    # --raw signs the bytes themselves; such a signature (no mode) is verified as it is.
    (tmp_path / "small.txt").write_bytes(b"hello")
    ok(run(env, tmp_path, "crypto", "sign", "small.txt", "--raw", "--out", "raw.json"))
    assert "mode" not in json.loads((tmp_path / "raw.json").read_text())
    raw_verify = ("crypto", "verify", "small.txt", "--signature", "raw.json")
    assert run(env, tmp_path, *raw_verify).returncode == 0
