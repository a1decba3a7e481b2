"""Quantum entropy and cryptography end to end: the real server process, the SDK and the CLI.

Two accounts created through the operator CLI play the two parties of a key exchange; every
other call goes over HTTP exactly as a customer's program or shell would make it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from qcos import (
    Client,
    ConflictError,
    DecryptionError,
    EntropyEncoding,
    KeyExchangeAlgorithm,
    NotFoundError,
    SignatureAlgorithm,
)
from tests.e2e.conftest import CLI, Server

pytestmark = pytest.mark.e2e

SIGNATURE_ALGORITHMS = ["Ed25519", "ML-DSA-65", "Ed25519+ML-DSA-65", "SHA3-512-RSA"]
MIB = 1024 * 1024


@dataclass
class Tenant:
    id: str
    api_key: str
    sdk: Client


def new_tenant(server: Server, name: str) -> Tenant:
    created = server.cli_json(
        "accounts", "create", "--name", name, "--email", f"{name}@example.com", "--plan", "business"
    )
    assert isinstance(created, dict)
    sdk = Client(api_key=created["api_key"], base_url=server.base_url, timeout=120)
    return Tenant(created["id"], created["api_key"], sdk)


@pytest.fixture(scope="module")
def tenants(server: Server) -> Iterator[tuple[Tenant, Tenant]]:
    alice, bob = new_tenant(server, "alice"), new_tenant(server, "bob")
    try:
        yield alice, bob
    finally:
        alice.sdk.close()
        bob.sdk.close()


def run_cli(
    server: Server, tenant: Tenant, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The tenant CLI, authenticated the recommended way: through the environment."""
    env = {**server.env, "QCOS_API_KEY": tenant.api_key, "QCOS_BASE_URL": server.base_url}
    return subprocess.run(
        [*CLI, *args], env=env, input=stdin, capture_output=True, timeout=120, check=False
    )


# -- SDK against the real server ----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["hex", "base64", "raw"])
def test_entropy_each_encoding(tenants: tuple[Tenant, Tenant], encoding: EntropyEncoding) -> None:
    sdk = tenants[0].sdk
    draws = [sdk.quantum.entropy(bits=256, encoding=encoding) for _ in range(3)]
    for draw in draws:
        assert draw.bits == 256 and draw.encoding == encoding and len(draw.bytes) == 32
        assert draw.source in {"qcos_api", "qiskit_local", "cryptographic"}
    assert len({d.bytes for d in draws}) == 3
    forced = sdk.quantum.entropy(bits=12, encoding=encoding, source="cryptographic")
    assert (forced.source, forced.security_level) == ("cryptographic", "CRYPTOGRAPHIC")
    assert len(forced.bytes) == 2 and forced.bytes[1] & 0x0F == 0
    health = sdk.quantum.health()
    assert health.available and "cryptographic" in health.backends


def test_keystore_create_list_delete(tenants: tuple[Tenant, Tenant]) -> None:
    alice, bob = tenants
    before = alice.sdk.quantum.list_keys(limit=1000).total
    created = [
        alice.sdk.quantum.create_key(algorithm)
        for algorithm in ("AES-256-GCM", "ChaCha20-Poly1305", "Ed25519", "X25519")
    ]
    assert [k.key_id.split("_")[1] for k in created] == ["quantum", "quantum", "sign", "kex"]
    listed = alice.sdk.quantum.list_keys(limit=1000)
    assert listed.total == before + 4
    assert [k.key_id for k in listed.keys[:4]] == [k.key_id for k in reversed(created)]
    with pytest.raises(NotFoundError):
        bob.sdk.quantum.get_key(created[0].key_id)
    for key in created:
        alice.sdk.quantum.delete_key(key.key_id)
        with pytest.raises(NotFoundError):
            alice.sdk.quantum.get_key(key.key_id)
    assert alice.sdk.quantum.list_keys(limit=1000).total == before


def test_encrypt_decrypt_one_mebibyte(tenants: tuple[Tenant, Tenant]) -> None:
    sdk = tenants[0].sdk
    plaintext = os.urandom(MIB)
    for algorithm in ("AES-256-GCM", "ChaCha20-Poly1305"):
        enc = sdk.quantum.encrypt(plaintext, algorithm=algorithm, aad=b"backup-2026-11")
        assert len(enc.ciphertext) == MIB and enc.algorithm == algorithm
        assert sdk.quantum.decrypt(enc, aad=b"backup-2026-11") == plaintext
        broken = replace(enc, ciphertext=enc.ciphertext[:-1] + bytes([enc.ciphertext[-1] ^ 1]))
        with pytest.raises(DecryptionError):
            sdk.quantum.decrypt(broken, aad=b"backup-2026-11")
    assert sdk.quantum.decrypt(sdk.quantum.encrypt(b"")) == b""


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS)
def test_sign_verify_and_tamper(
    tenants: tuple[Tenant, Tenant], algorithm: SignatureAlgorithm
) -> None:
    alice, bob = tenants
    message = os.urandom(4096)
    sig = alice.sdk.quantum.sign(message, algorithm=algorithm)
    assert alice.sdk.quantum.verify(message, sig) is True
    # Anyone with the public key can check it, another account included.
    assert bob.sdk.quantum.verify(message, sig, public_key=sig.public_key) is True
    tampered = bytearray(message)
    tampered[100] ^= 0x80
    assert alice.sdk.quantum.verify(bytes(tampered), sig) is False
    flipped = bytearray(sig.signature)
    flipped[len(flipped) // 2] ^= 1
    assert alice.sdk.quantum.verify(message, replace(sig, signature=bytes(flipped))) is False


@pytest.mark.parametrize(
    ("algorithm", "key_bits"), [("X25519", 256), ("X25519-ML-KEM-768", 512), ("X25519", 128)]
)
def test_key_exchange_two_accounts_same_secret_and_replay_refused(
    tenants: tuple[Tenant, Tenant], algorithm: KeyExchangeAlgorithm, key_bits: int
) -> None:
    alice, bob = tenants
    start = alice.sdk.quantum.key_exchange(algorithm=algorithm, key_bits=key_bits)
    assert start.shared_secret is None and start.session_id.startswith("session_")
    # Only the public value travels from A to B and back.
    answer = bob.sdk.quantum.key_exchange(start.public_key, algorithm=algorithm, key_bits=key_bits)
    assert answer.shared_secret is not None and len(answer.shared_secret) == key_bits // 8
    done = alice.sdk.quantum.key_exchange(
        answer.public_key, session_id=start.session_id, algorithm=algorithm, key_bits=key_bits
    )
    assert done.shared_secret == answer.shared_secret

    with pytest.raises(ConflictError) as replay:
        alice.sdk.quantum.key_exchange(
            answer.public_key, session_id=start.session_id, algorithm=algorithm, key_bits=key_bits
        )
    assert replay.value.status_code == 409 and replay.value.code == "CONFLICT"
    # A second exchange gives another secret.
    again = alice.sdk.quantum.key_exchange(algorithm=algorithm, key_bits=key_bits)
    second = bob.sdk.quantum.key_exchange(again.public_key, algorithm=algorithm, key_bits=key_bits)
    assert second.shared_secret != answer.shared_secret


# -- the CLI -------------------------------------------------------------------------------


def test_cli_entropy(server: Server, tenants: tuple[Tenant, Tenant]) -> None:
    alice = tenants[0]
    for encoding, width in [("hex", 32), ("base64", 24), ("raw", 128)]:
        out = run_cli(server, alice, "entropy", "--bits", "128", "--encoding", encoding)
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.decode().strip()) == width
        assert b"128 bits from" in out.stderr
    doc = run_cli(server, alice, "entropy", "--bits", "64", "--source", "cryptographic", "--json")
    data = json.loads(doc.stdout)
    assert (data["bits"], data["source"], data["security_level"]) == (
        64,
        "cryptographic",
        "CRYPTOGRAPHIC",
    )
    bad = run_cli(server, alice, "entropy", "--bits", "5000")
    assert bad.returncode == 2


def test_cli_encrypt_decrypt_through_files(
    server: Server, tenants: tuple[Tenant, Tenant], tmp_path: Path
) -> None:
    alice, bob = tenants
    secret = os.urandom(200_000) + b"\x00end"
    (tmp_path / "plain.bin").write_bytes(secret)
    enc = run_cli(
        server,
        alice,
        "crypto",
        "encrypt",
        "--in",
        str(tmp_path / "plain.bin"),
        "--algorithm",
        "ChaCha20-Poly1305",
        "--aad",
        "invoice-7",
        "--out",
        str(tmp_path / "envelope.json"),
    )
    assert enc.returncode == 0, enc.stderr
    envelope = json.loads((tmp_path / "envelope.json").read_text())
    assert {"key_id", "iv", "tag", "ciphertext", "algorithm"} <= set(envelope)
    assert envelope["algorithm"] == "ChaCha20-Poly1305"

    dec = run_cli(
        server,
        alice,
        "crypto",
        "decrypt",
        "--in",
        str(tmp_path / "envelope.json"),
        "--aad",
        "invoice-7",
        "--out",
        str(tmp_path / "back.bin"),
    )
    assert dec.returncode == 0, dec.stderr
    assert (tmp_path / "back.bin").read_bytes() == secret
    # To stdout as raw bytes, and from stdin.
    raw = run_cli(
        server,
        alice,
        "crypto",
        "decrypt",
        "--in",
        "-",
        "--aad",
        "invoice-7",
        stdin=(tmp_path / "envelope.json").read_bytes(),
    )
    assert raw.returncode == 0 and raw.stdout == secret

    # Reusing the key by id alone: the CLI looks its algorithm up.
    again = run_cli(
        server, alice, "crypto", "encrypt", "--key-id", envelope["key_id"], stdin=b"second"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["key_id"] == envelope["key_id"]

    # Wrong aad, or another account: refused, exit 2, and nothing of the plaintext shown.
    for tenant, aad in [(alice, "invoice-8"), (bob, "invoice-7")]:
        refused = run_cli(
            server,
            tenant,
            "crypto",
            "decrypt",
            "--in",
            str(tmp_path / "envelope.json"),
            "--aad",
            aad,
        )
        assert refused.returncode == 2 and refused.stdout == b""
        assert tenant.api_key.encode() not in refused.stderr
    assert (
        b"DECRYPTION_FAILED"
        in run_cli(
            server, alice, "crypto", "decrypt", "--in", str(tmp_path / "envelope.json")
        ).stderr
    )


def test_cli_sign_verify(server: Server, tenants: tuple[Tenant, Tenant], tmp_path: Path) -> None:
    alice, bob = tenants
    (tmp_path / "release.tar").write_bytes(os.urandom(50_000))
    signed = run_cli(
        server,
        alice,
        "crypto",
        "sign",
        "--in",
        str(tmp_path / "release.tar"),
        "--algorithm",
        "Ed25519+ML-DSA-65",
        "--out",
        str(tmp_path / "sig.json"),
    )
    assert signed.returncode == 0, signed.stderr
    sig = json.loads((tmp_path / "sig.json").read_text())
    assert sig["algorithm"] == "Ed25519+ML-DSA-65" and sig["key_id"].startswith("key_sign_")

    def verify(tenant: Tenant, message: Path, *extra: str) -> int:
        args = ("crypto", "verify", "--in", str(message), "--signature", str(tmp_path / "sig.json"))
        return run_cli(server, tenant, *args, *extra).returncode

    assert verify(alice, tmp_path / "release.tar") == 0
    (tmp_path / "pub.pem").write_text(sig["public_key"])
    assert verify(bob, tmp_path / "release.tar", "--public-key", str(tmp_path / "pub.pem")) == 0
    # Bob cannot use Alice's key id: it is not his (404 -> exit 2).
    assert verify(bob, tmp_path / "release.tar") == 2
    tampered = bytearray((tmp_path / "release.tar").read_bytes())
    tampered[-1] ^= 1
    (tmp_path / "tampered.tar").write_bytes(bytes(tampered))
    assert verify(alice, tmp_path / "tampered.tar") == 1
    (tmp_path / "sig.json").write_text("{not json")
    assert verify(alice, tmp_path / "release.tar") == 2

    # --key-id alone: the CLI asks the keystore for the key's algorithm.
    again = run_cli(
        server, alice, "crypto", "sign", "--in", "-", "--key-id", sig["key_id"], stdin=b"x"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["algorithm"] == "Ed25519+ML-DSA-65"


def test_cli_without_or_with_a_wrong_key_fails_cleanly(
    server: Server, tenants: tuple[Tenant, Tenant]
) -> None:
    env = {k: v for k, v in server.env.items() if k != "QCOS_API_KEY"}
    missing = subprocess.run(
        [*CLI, "entropy", "--base-url", server.base_url],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2 and b"no API key" in missing.stderr
    wrong = replace(tenants[0], api_key=tenants[0].api_key[:-6] + "AAAAAA")
    refused = run_cli(server, wrong, "crypto", "sign", "--in", "-", stdin=b"x")
    assert refused.returncode == 2 and b"UNAUTHORIZED" in refused.stderr
    assert b"Traceback" not in refused.stderr and wrong.api_key.encode() not in refused.stderr
