"""Known-answer tests from published vectors, run through the API.

The vectors live in tests/data/ in their own formats; tests/data/README.md says where each
file comes from. Keys are imported through POST /quantum/keys (`key`), then the vectors'
ciphertexts are decrypted and their signatures verified through the crypto routes; for
X25519 the public key the keystore derives from an imported private key is compared with
the published one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, x25519
from fastapi.testclient import TestClient

from tests.api.test_auth_api import assert_error
from tests.api.test_quantum_keys_api import b64, new_key
from tests.conftest import AccountFixture, bearer

DATA = Path(__file__).resolve().parent.parent / "data"
DEC = "/api/v1/quantum/crypto/decrypt"
VERIFY = "/api/v1/quantum/crypto/verify"
ML_DSA_65_SIG = 3309


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def b64url(text: str) -> bytes:
    """Unpadded base64url, as in JWK (RFC 7517)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- parsers for the vectors' own formats ------------------------------------------------


def cavp_gcm_cases(path: Path) -> Iterator[dict[str, str]]:
    """NIST CAVP gcmDecrypt*.rsp: `[…]` section headers, then `Count = n` blocks ending
    in `PT = …` or a bare `FAIL`."""
    section: dict[str, str] = {}
    case: dict[str, str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            name, _, value = line[1:-1].partition(" = ")
            section[name] = value
        elif line.startswith("Count = "):
            if case is not None:
                yield case
            case = {**{f"[{k}]": v for k, v in section.items()}}
        elif case is not None and line == "FAIL":
            case["FAIL"] = "1"
        elif case is not None and " = " in line:
            name, _, value = line.partition(" = ")
            case[name] = value
        elif case is not None and line.endswith(" ="):
            case[line[:-2]] = ""
    if case is not None:
        yield case


def openssl_cases(path: Path) -> Iterator[dict[str, str]]:
    """OpenSSL evpciph blocks: `Key = …` lines, blank-line separated."""
    for block in path.read_text().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if " = " in line and not line.startswith("#"):
                name, _, value = line.partition(" = ")
                fields[name.strip()] = value.strip()
        if "Key" in fields:
            yield fields


def rsp_records(path: Path) -> Iterator[dict[str, str]]:
    """`name = value` records, each starting at `count = n`."""
    record: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if " = " not in line:
            continue
        name, _, value = line.partition(" = ")
        if name == "count" and record:
            yield record
            record = {}
        record[name] = value.strip()
    if record:
        yield record


# -- helpers -------------------------------------------------------------------------------


def import_key(client: TestClient, api_key: str, algorithm: str, material: bytes) -> str:
    return new_key(client, api_key, algorithm, key=b64(material))["key_id"]  # type: ignore[no-any-return]


def decrypt(
    client: TestClient,
    api_key: str,
    key_id: str,
    iv: bytes,
    ct: bytes,
    tag: bytes,
    aad: bytes,
) -> Any:
    return client.post(
        DEC,
        json={
            "key_id": key_id,
            "iv": b64(iv),
            "ciphertext": b64(ct),
            "tag": b64(tag),
            "aad": b64(aad) if aad else None,
        },
        headers=bearer(api_key),
    )


def verify(client: TestClient, api_key: str, **body: Any) -> bool:
    resp = client.post(VERIFY, json=body, headers=bearer(api_key))
    assert resp.status_code == 200, resp.text
    return resp.json()["valid"]  # type: ignore[no-any-return]


def check_decryption(
    client: TestClient,
    api_key: str,
    algorithm: str,
    key: bytes,
    iv: bytes,
    ct: bytes,
    tag: bytes,
    aad: bytes,
    expected: bytes | None,
) -> None:
    key_id = import_key(client, api_key, algorithm, key)
    resp = decrypt(client, api_key, key_id, iv, ct, tag, aad)
    if expected is None:
        assert_error(resp, 400, "DECRYPTION_FAILED")
    else:
        assert resp.status_code == 200, resp.text
        assert resp.json()["plaintext"] == b64(expected)


# -- AES-256-GCM: NIST CAVP ----------------------------------------------------------------


def test_aes_256_gcm_cavp_decrypt(client: TestClient, account: AccountFixture) -> None:
    cases = list(cavp_gcm_cases(DATA / "aes_gcm_256_decrypt_cavp.rsp"))
    usable = [
        c
        for c in cases
        if c["[Keylen]"] == "256" and c["[IVlen]"] == "96" and c["[Taglen]"] == "128"
    ]
    assert len(usable) == len(cases) == 100
    failing = sum("FAIL" in c for c in usable)
    assert 0 < failing < len(usable)  # both outcomes are exercised
    for case in usable:
        check_decryption(
            client,
            account.admin_key,
            "AES-256-GCM",
            h(case["Key"]),
            h(case["IV"]),
            h(case["CT"]),
            h(case["Tag"]),
            h(case["AAD"]),
            None if "FAIL" in case else h(case["PT"]),
        )


# -- ChaCha20-Poly1305: Wycheproof and OpenSSL (RFC 7539) ---------------------------------


def test_chacha20_poly1305_wycheproof_decrypt(client: TestClient, account: AccountFixture) -> None:
    vectors = json.loads((DATA / "wycheproof_chacha20_poly1305_subset.json").read_text())
    ran = 0
    for group in vectors["testGroups"]:
        if (group["ivSize"], group["keySize"], group["tagSize"]) != (96, 256, 128):
            continue
        for test in group["tests"]:
            check_decryption(
                client,
                account.admin_key,
                "ChaCha20-Poly1305",
                h(test["key"]),
                h(test["iv"]),
                h(test["ct"]),
                h(test["tag"]),
                h(test["aad"]),
                h(test["msg"]) if test["result"] == "valid" else None,
            )
            ran += 1
    assert ran == 13


def test_chacha20_poly1305_openssl_decrypt(client: TestClient, account: AccountFixture) -> None:
    cases = list(openssl_cases(DATA / "chacha20_poly1305_openssl.txt"))
    assert len(cases) == 5 and sum("Result" in c for c in cases) == 1
    for case in cases:
        check_decryption(
            client,
            account.admin_key,
            "ChaCha20-Poly1305",
            h(case["Key"]),
            h(case["IV"]),
            h(case["Ciphertext"]),
            h(case["Tag"]),
            h(case["AAD"]),
            None if case.get("Result") == "CIPHERFINAL_ERROR" else h(case["Plaintext"]),
        )


# -- Ed25519: Wycheproof and the Ed25519 reference set (RFC 8032 style) -------------------


def test_ed25519_wycheproof_verify(client: TestClient, account: AccountFixture) -> None:
    vectors = json.loads((DATA / "wycheproof_ed25519_subset.json").read_text())
    outcomes = {"valid": 0, "invalid": 0}
    for group in vectors["testGroups"]:
        for test in group["tests"]:
            valid = verify(
                client,
                account.admin_key,
                message=b64(h(test["msg"])),
                signature=b64(h(test["sig"])),
                algorithm="Ed25519",
                public_key=group["publicKeyPem"],
            )
            assert valid is (test["result"] == "valid"), test["tcId"]
            outcomes[test["result"]] += 1
    assert outcomes == {"valid": 9, "invalid": 20}


def test_ed25519_reference_keys_and_signatures(client: TestClient, account: AccountFixture) -> None:
    """sign.input lines: sk‖pk : pk : message : signature‖message."""
    lines = (DATA / "ed25519_sign.input").read_text().splitlines()
    assert len(lines) == 16
    for line in lines:
        secret_and_public, public, message_hex, signed = line.split(":")[:4]
        message = h(message_hex)
        signature = h(signed)[:64]
        made = new_key(client, account.admin_key, "Ed25519", key=b64(h(secret_and_public)[:32]))
        # Key generation from the seed gives the published public key.
        loaded = serialization.load_pem_public_key(made["public_key"].encode())
        assert loaded.public_bytes_raw() == h(public)  # type: ignore[union-attr]
        base = {"message": b64(message), "signature": b64(signature), "algorithm": "Ed25519"}
        assert verify(client, account.admin_key, **base, key_id=made["key_id"]) is True
        tampered = base | {"message": b64(message + b"\x00")}
        assert verify(client, account.admin_key, **tampered, key_id=made["key_id"]) is False


# -- ML-DSA-65: deterministic pure-interface KATs (FIPS 204) ------------------------------


def test_ml_dsa_65_kat_keygen_and_verify(client: TestClient, account: AccountFixture) -> None:
    records = list(rsp_records(DATA / "mldsa_65_det_pure_kat.rsp"))
    assert len(records) == 4
    for record in records:
        message, sm = h(record["msg"]), h(record["sm"])
        assert len(message) == int(record["mlen"]) and len(sm) == int(record["smlen"])
        signature = sm[:ML_DSA_65_SIG]
        assert sm[ML_DSA_65_SIG:] == message
        # Import the 32-byte seed ξ: the keystore derives the published public key.
        made = new_key(client, account.admin_key, "ML-DSA-65", key=b64(h(record["xi"])))
        loaded = serialization.load_pem_public_key(made["public_key"].encode())
        assert isinstance(loaded, mldsa.MLDSA65PublicKey)
        assert loaded.public_bytes_raw() == h(record["pk"])

        base = {
            "message": b64(message),
            "signature": b64(signature),
            "algorithm": "ML-DSA-65",
            "context": b64(h(record["ctx"])),
        }
        assert verify(client, account.admin_key, **base, key_id=made["key_id"]) is True
        # The same through a PEM public key built from the vector's raw key.
        pem = (
            mldsa.MLDSA65PublicKey.from_public_bytes(h(record["pk"]))
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        assert verify(client, account.admin_key, **base, public_key=pem) is True
        # The context is part of what was signed: without it, or with another, it fails.
        assert (
            verify(client, account.admin_key, **(base | {"context": None}), public_key=pem) is False
        )
        broken = bytearray(signature)
        broken[100] ^= 0x04
        assert (
            verify(
                client,
                account.admin_key,
                **(base | {"signature": b64(bytes(broken))}),
                public_key=pem,
            )
            is False
        )


def test_ml_dsa_65_wycheproof_verify(client: TestClient, account: AccountFixture) -> None:
    vectors = json.loads((DATA / "wycheproof_mldsa_65_verify_subset.json").read_text())
    ran = 0
    for group in vectors["testGroups"]:
        pem = (
            mldsa.MLDSA65PublicKey.from_public_bytes(h(group["publicKey"]))
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        for test in group["tests"]:
            assert "ctx" not in test  # the subset holds context-free tests only
            message, signature = h(test["msg"]), h(test["sig"])
            base = {"message": b64(message), "algorithm": "ML-DSA-65", "public_key": pem}
            valid = verify(client, account.admin_key, **base, signature=b64(signature))
            assert valid is (test["result"] == "valid"), test["tcId"]
            ran += 1
            if test["result"] == "valid":
                broken = bytearray(signature)
                broken[-100] ^= 0x01
                assert not verify(client, account.admin_key, **base, signature=b64(bytes(broken)))
                other = base | {"message": b64(message + b"!")}
                assert not verify(client, account.admin_key, **other, signature=b64(signature))
    assert ran == 1


# -- X25519: public-key derivation in the keystore (Wycheproof JWK, RFC 7748) ------------
#
# Only the key-derivation half of X25519 can be checked through the API. The shared-secret
# half cannot: POST /quantum/crypto/key-exchange draws a fresh key pair for every session
# and takes no imported key (there is no `key_id`), so a published private key never meets
# a published peer key there; and its `shared_secret` is an HKDF-SHA256 output over the raw
# X25519 value, not the value the vectors publish.


def imported_x25519_public(client: TestClient, api_key: str, private: bytes) -> bytes:
    made = new_key(client, api_key, "X25519", key=b64(private))
    assert made["source"] == "imported"
    loaded = serialization.load_pem_public_key(made["public_key"].encode())
    assert isinstance(loaded, x25519.X25519PublicKey)
    return loaded.public_bytes_raw()


def test_x25519_wycheproof_jwk_public_key(client: TestClient, account: AccountFixture) -> None:
    """Each Wycheproof private JWK carries its scalar `d` and its own public key `x`:
    importing `d` into the keystore must give back `x`.

    tcId 102 ("RFC 8037, Section A.6") is RFC 7748 §6.1's Alice: `d` is her private key a,
    `x` her public key X25519(a, 9) = 8520f009…4e6a. The tests' `public` / `shared` fields
    (the Diffie-Hellman half) are not used: the key-exchange route cannot take an imported
    key, see above.
    """
    vectors = json.loads((DATA / "wycheproof_x25519_jwk_subset.json").read_text())
    ran = []
    for group in vectors["testGroups"]:
        assert group["curve"] == "curve25519"
        for test in group["tests"]:
            private = test["private"]
            assert (private["kty"], private["crv"]) == ("OKP", "X25519")
            public = imported_x25519_public(client, account.admin_key, b64url(private["d"]))
            assert public == b64url(private["x"]), test["tcId"]
            ran.append(test["tcId"])
    assert ran == [*range(1, 11), 100, 101, 102]


def test_x25519_rfc7748_base_point(client: TestClient, account: AccountFixture) -> None:
    """RFC 7748 §5.2, first iteration: scalar k = 9 with u = 9 (the base point), so the
    output is the public key of the private key k. (The other §5.2 vectors use another u
    and would need the exchange.)"""
    fields = dict(
        line.split(" = ", 1)
        for line in (DATA / "x25519_rfc7748_pyca.txt").read_text().splitlines()
        if " = " in line
    )
    assert fields["INPUT_U"] == "09" + "00" * 31  # the base point
    public = imported_x25519_public(client, account.admin_key, h(fields["INPUT_SCALAR"]))
    assert public == h(fields["OUTPUT_U"])


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.name != "README.md"))
def test_every_vector_file_has_a_stated_origin(name: str) -> None:
    assert name in (DATA / "README.md").read_text()
