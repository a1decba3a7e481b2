"""Issue #16 finding 1 end to end: a real server, the SDK and the CLI. A sandbox (test-mode)
key's license file is refused by a verifier holding the live signing keys, and accepted
only with the test-mode keys and the explicit test-mode option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcos import Client, verify_license_file
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_licensing_e2e import new_account

pytestmark = pytest.mark.e2e
CUSTOMER = "customer@company.com"


def test_a_test_mode_file_is_refused_by_live_keys_sdk_and_cli(tmp_path: Path) -> None:
    server: Server = start_server(tmp_path, None)
    try:
        created = new_account(server)
        with Client(api_key=created["api_key"], base_url=server.base_url) as live:
            sandbox_key = live.keys.create("sandbox", type="test").key
            live_doc = live.licenses.signing_keys()
            live_file = live.licenses.generate(CUSTOMER).license_file
        with Client(api_key=sandbox_key, base_url=server.base_url) as sandbox:
            # Any customer, any features, ten years, outside the quota: a sandbox license.
            test_file = sandbox.licenses.generate(
                "anyone@else.com", features=["everything"], valid_days=3650
            ).license_file
            test_doc = sandbox.licenses.signing_keys()
        # The CLI's published document is the same, per mode.
        cli_live = json.loads(
            server.cli("licenses", "signing-keys", "--account", created["id"]).stdout
        )
        cli_test = json.loads(
            server.cli("licenses", "signing-keys", "--account", created["id"], "--test").stdout
        )
        assert [k["kid"] for k in cli_live["keys"]] == [k["kid"] for k in live_doc["keys"]]
        assert [k["kid"] for k in cli_test["keys"]] == [k["kid"] for k in test_doc["keys"]]
    finally:
        stop_server(server)

    # SDK, offline.
    assert verify_license_file(test_file, live_doc).code == "SIGNATURE_INVALID"
    assert verify_license_file(test_file, live_doc, allow_test=True).code == "SIGNATURE_INVALID"
    assert verify_license_file(test_file, test_doc).code == "TEST_MODE"
    assert verify_license_file(test_file, test_doc, allow_test=True).valid
    assert verify_license_file(live_file, live_doc).valid

    # CLI, offline.
    (tmp_path / "test.qlf").write_text(test_file)
    (tmp_path / "live.json").write_text(json.dumps(live_doc))
    (tmp_path / "test.json").write_text(json.dumps(test_doc))

    def verify(keys: str, *extra: str) -> tuple[int, str]:
        done = server.cli(
            "licenses", "verify", str(tmp_path / "test.qlf"), "--public-keys",
            str(tmp_path / keys), "--json", *extra, check=False,
        )  # fmt: skip
        return done.returncode, json.loads(done.stdout)["code"]

    assert verify("live.json") == (1, "SIGNATURE_INVALID")
    assert verify("live.json", "--test") == (1, "SIGNATURE_INVALID")
    assert verify("test.json") == (1, "TEST_MODE")
    assert verify("test.json", "--test") == (0, "VALID")
