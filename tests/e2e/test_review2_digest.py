"""Review 2: a signature over one file must never verify another (digest vs --raw framing)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_cli_vendor_e2e import ok, run, vendor_env

pytestmark = pytest.mark.e2e

PREFIX = b"QL-FILE-DIGEST-v1\x00SHA-512\x00"


def _env(server: Server, tmp_path: Path) -> dict[str, str]:
    admin = server.cli_json("accounts", "create", "--name", "R", "--email", "r@example.com")
    assert isinstance(admin, dict)
    return vendor_env(tmp_path, QCOS_API_KEY=admin["api_key"], QCOS_BASE_URL=server.base_url)


def test_digest_signature_with_mode_stripped_does_not_verify_the_statement_file(
    server: Server, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    data = os.urandom(4096)
    (tmp_path / "release.bin").write_bytes(data)
    ok(run(env, tmp_path, "crypto", "sign", "release.bin", "--out", "sig.json"))
    sig = json.loads((tmp_path / "sig.json").read_text())
    for field in ("mode", "digest_algorithm", "digest", "size"):
        sig.pop(field)
    (tmp_path / "stripped.json").write_text(json.dumps(sig))
    # Another file: the 92-byte statement itself. It is not release.bin.
    (tmp_path / "other.bin").write_bytes(PREFIX + hashlib.sha512(data).digest())
    verify = run(env, tmp_path, "crypto", "verify", "other.bin", "--signature", "stripped.json")
    assert verify.returncode != 0, "a digest signature of release.bin verified other.bin"


def test_raw_signature_over_a_statement_does_not_verify_the_digested_file(
    server: Server, tmp_path: Path
) -> None:
    env = _env(server, tmp_path)
    evil = os.urandom(4096)
    (tmp_path / "evil.bin").write_bytes(evil)
    # A small "raw" message (e.g. a token a service signs for users) that happens to be a
    # digest statement of evil.bin.
    (tmp_path / "token.txt").write_bytes(PREFIX + hashlib.sha512(evil).digest())
    signed = run(env, tmp_path, "crypto", "sign", "token.txt", "--raw", "--out", "raw.json")
    if signed.returncode != 0:
        return  # refusing to raw-sign a digest statement is one acceptable fix
    sig = json.loads((tmp_path / "raw.json").read_text())
    sig.update(mode="sha512-digest", digest_algorithm="SHA-512",
               digest=hashlib.sha512(evil).hexdigest(), size=len(evil))  # fmt: skip
    (tmp_path / "forged.json").write_text(json.dumps(sig))
    verify = run(env, tmp_path, "crypto", "verify", "evil.bin", "--signature", "forged.json")
    assert verify.returncode != 0, "a --raw signature verified evil.bin as a digest signature"


def test_signature_json_with_its_nonce_nulled_does_not_verify_the_framed_bytes_file(
    server: Server, tmp_path: Path
) -> None:
    import base64

    from quantumlock.crypto.algorithms import signed_bytes

    env = _env(server, tmp_path)
    data = os.urandom(4096)
    (tmp_path / "release.bin").write_bytes(data)
    ok(run(env, tmp_path, "crypto", "sign", "release.bin", "--out", "sig.json"))
    sig = json.loads((tmp_path / "sig.json").read_text())
    statement = PREFIX + hashlib.sha512(data).digest()
    framed = signed_bytes(sig["algorithm"], bytes.fromhex(sig["quantum_nonce"]), statement)
    (tmp_path / "other.bin").write_bytes(framed)  # a different file
    for field in ("mode", "digest_algorithm", "digest", "size"):
        sig.pop(field)
    sig["quantum_nonce"] = None  # an edit of the signature JSON's metadata
    (tmp_path / "edited.json").write_text(json.dumps(sig))
    assert base64.b64decode(sig["signature"])
    verify = run(env, tmp_path, "crypto", "verify", "other.bin", "--signature", "edited.json")
    assert verify.returncode != 0, "a signature of release.bin verified other.bin"
