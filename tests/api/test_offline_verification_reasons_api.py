"""Offline verification names the check that failed (`reason`), on real files issued by the
app: each signature tampered with on its own, the payload, an unknown kid, the wrong customer,
an expired file, the wrong mode both ways, missing features, malformed files. The codes stay
those of online validation (SIGNATURE_INVALID, ...), so code matching on them keeps working.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from qcos import Client
from qcos.licensing import LicenseVerification, verify_license_file
from quantumlock.cli.main import app as cli_app
from tests.api.test_auth_api import create_key
from tests.conftest import AccountFixture, MakeAccount

CUSTOMER = "customer@company.com"


def sdk_for(client: TestClient, key: str) -> Client:
    return Client(api_key=key, base_url="http://testserver", http_client=client)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tamper(license_file: str, part: int) -> str:
    """The file with one byte of part `part` (1 payload, 2 Ed25519, 3 ML-DSA-65) changed."""
    parts = license_file.split(".")
    raw = bytearray(unb64(parts[part]))
    raw[len(raw) // 2] ^= 0x01
    parts[part] = b64(bytes(raw))
    return ".".join(parts)


def with_payload(license_file: str, change: dict[str, Any]) -> str:
    """The file with its payload changed (signatures left as they were)."""
    parts = license_file.split(".")
    parts[1] = b64(json.dumps({**json.loads(unb64(parts[1])), **change}).encode())
    return ".".join(parts)


def refused(result: LicenseVerification, code: str, reason: str) -> None:
    assert (result.valid, result.code, result.reason) == (False, code, reason), result
    assert result.message


@pytest.fixture
def issued(client: TestClient, account: AccountFixture) -> dict[str, Any]:
    live = sdk_for(client, account.admin_key)
    sandbox = sdk_for(client, create_key(client, account.admin_key, type="test")["key"])
    live_key = live.licenses.generate(CUSTOMER, features=["premium"], valid_days=30)
    test_key = sandbox.licenses.generate(CUSTOMER, features=["premium"], valid_days=30)
    return {
        "live": live.licenses.get(live_key.license_key).license_file,
        "test": sandbox.licenses.get(test_key.license_key).license_file,
        "live_doc": live.licenses.signing_keys(),
        "test_doc": sandbox.licenses.signing_keys(),
    }


def test_a_good_file_has_no_reason(issued: dict[str, Any]) -> None:
    result = verify_license_file(issued["live"], issued["live_doc"], end_customer_id=CUSTOMER)
    assert (result.valid, result.code, result.reason, result.message) == (True, "VALID", None, None)
    assert result.missing_features is None


def test_each_signature_is_named_when_it_alone_is_bad(issued: dict[str, Any]) -> None:
    doc = issued["live_doc"]
    ed = verify_license_file(tamper(issued["live"], 2), doc)
    refused(ed, "SIGNATURE_INVALID", "bad_ed25519_signature")
    assert "Ed25519" in (ed.message or "") and ed.license_key is None  # nothing trusted
    pq = verify_license_file(tamper(issued["live"], 3), doc)
    refused(pq, "SIGNATURE_INVALID", "bad_ml_dsa_signature")
    assert "ML-DSA-65" in (pq.message or "")
    # A changed payload breaks both: the reason says so rather than blaming one algorithm.
    payload = verify_license_file(tamper(issued["live"], 1), doc)
    refused(payload, "SIGNATURE_INVALID", "bad_signatures")
    longer = with_payload(issued["live"], {"valid_until": "2099-01-01T00:00:00Z"})
    refused(verify_license_file(longer, doc), "SIGNATURE_INVALID", "bad_signatures")


def test_unknown_kid(client: TestClient, issued: dict[str, Any], make_account: MakeAccount) -> None:
    other = sdk_for(client, make_account().admin_key)
    other_file = other.licenses.get(other.licenses.generate(CUSTOMER).license_key).license_file
    result = verify_license_file(other_file, issued["live_doc"])
    refused(result, "SIGNATURE_INVALID", "unknown_kid")
    kid = json.loads(unb64(other_file.split(".")[1]))["kid"]
    assert kid in (result.message or "") and "signing-keys" in (result.message or "")
    # A kid the payload was edited to name: not in the document either.
    renamed = with_payload(issued["live"], {"kid": "sk_not_published_anywhere"})
    refused(verify_license_file(renamed, issued["live_doc"]), "SIGNATURE_INVALID", "unknown_kid")


def test_wrong_customer_expired_and_missing_features(issued: dict[str, Any]) -> None:
    doc, lic = issued["live_doc"], issued["live"]
    wrong = verify_license_file(lic, doc, end_customer_id="someone@else.com")
    refused(wrong, "CUSTOMER_MISMATCH", "customer_mismatch")
    good = verify_license_file(lic, doc)
    assert good.valid and good.valid_until is not None
    expired = verify_license_file(lic, doc, now=good.valid_until + timedelta(seconds=1))
    refused(expired, "EXPIRED", "expired")
    missing = verify_license_file(lic, doc, features=["premium", "gold", "api", "gold"])
    refused(missing, "FEATURES_MISSING", "features_missing")
    assert missing.missing_features == ["gold", "api"]
    assert missing.message == "License does not include the required features: gold, api."


def test_the_wrong_mode_is_named_both_ways(issued: dict[str, Any]) -> None:
    # A test file checked as live: its kid is a test key, absent from the live document.
    for allow_test in (False, True):
        as_live = verify_license_file(issued["test"], issued["live_doc"], allow_test=allow_test)
        refused(as_live, "SIGNATURE_INVALID", "wrong_mode")
        assert "test-mode" in (as_live.message or "")
    # A live file checked against the test-mode document.
    as_test = verify_license_file(issued["live"], issued["test_doc"], allow_test=True)
    refused(as_test, "SIGNATURE_INVALID", "wrong_mode")
    # A genuine test file, not asked for: TEST_MODE as before, and the same reason.
    refused(verify_license_file(issued["test"], issued["test_doc"]), "TEST_MODE", "wrong_mode")
    assert verify_license_file(issued["test"], issued["test_doc"], allow_test=True).valid


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: "",
        lambda f: "not a license",
        lambda f: f.rsplit(".", 1)[0],  # a signature cut off
        lambda f: "qlf2" + f[4:],
        lambda f: f.replace(".", ".!", 1),  # not base64url
        lambda f: ".".join([f.split(".")[0], b64(b"[1, 2]"), *f.split(".")[2:]]),
        lambda f: ".".join([f.split(".")[0], b64(b"{not json"), *f.split(".")[2:]]),
        lambda f: with_payload(f, {"kid": None}),
    ],
)
def test_malformed_files(issued: dict[str, Any], damage: Any) -> None:
    result = verify_license_file(damage(issued["live"]), issued["live_doc"])
    refused(result, "SIGNATURE_INVALID", "malformed")
    assert "qlf1.<payload>" in (result.message or "")


def test_cli_verify_prints_the_reason(issued: dict[str, Any], tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(issued["live_doc"]))
    runner = CliRunner()

    def verify(text: str, *extra: str) -> tuple[int, str]:
        (tmp_path / "file.qlf").write_text(text)
        done = runner.invoke(
            cli_app,
            ["licenses", "verify", str(tmp_path / "file.qlf"), "--public-keys", str(keys), *extra],
        )
        return done.exit_code, done.output

    def verify_json(text: str) -> tuple[int, dict[str, Any]]:
        code, out = verify(text, "--json")
        # The output also holds the in-process app's log lines: the command's JSON comes last.
        return code, json.loads(out[out.rindex('{\n  "valid"') :])

    code, out = verify_json(tamper(issued["live"], 3))
    assert code == 1
    assert (out["code"], out["reason"]) == ("SIGNATURE_INVALID", "bad_ml_dsa_signature")
    code, out = verify_json(issued["test"])
    assert code == 1 and (out["code"], out["reason"]) == ("SIGNATURE_INVALID", "wrong_mode")
    code, text = verify(tamper(issued["live"], 2))
    assert code == 1 and "SIGNATURE_INVALID (bad_ed25519_signature)" in text
