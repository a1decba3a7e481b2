"""#18 item 7 against a real `quantumlock serve`: the audit trail through the SDK and the
CLI (with only QCOS_API_KEY / QCOS_BASE_URL), the log events in the server's own log file
(JSON lines: its stdout is not a terminal), and the metrics it serves."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from qcos import Client
from tests.e2e.conftest import CLI, Server
from tests.secret_scan import REGISTRY

pytestmark = pytest.mark.e2e


def vendor_cli(server: Server, key: str, cwd: Path, *args: str) -> Any:
    """A vendor command as a vendor runs it: an empty directory, no QL_* at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QL_")}
    env |= {"QCOS_API_KEY": key, "QCOS_BASE_URL": server.base_url}
    result = subprocess.run(
        [*CLI, *args, "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _changes(log_path: Path, account_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    return [e for e in lines if e.get("account_id") == account_id and "." in e["event"]]


def test_the_audit_trail_logs_and_metrics_of_a_real_server(server: Server, tmp_path: Path) -> None:
    created: Any = server.cli_json(
        "accounts", "create", "--name", "Ops", "--email", "ops@example.com", "--plan", "startup"
    )
    key = created["api_key"]
    REGISTRY.add(key)
    with Client(api_key=key, base_url=server.base_url) as sdk:
        lic = sdk.licenses.generate("c-1")
        sdk.licenses.suspend(lic.license_key)
        sdk.licenses.revoke(lic.license_key)
        made = sdk.keys.create("reader", scopes=["licenses:read"])
        REGISTRY.add(made.key)
        sdk.keys.revoke(made.id)
        assert sdk.licenses.validate(lic.license_key, "c-1").code == "REVOKED"
        assert [e.action for e in sdk.licenses.events(lic.license_key).events] == [
            "revoke",
            "suspend",
            "generate",
        ]
        trail = [e.type for e in sdk.audit.iter()]
    assert trail == [
        "api_key.revoke",
        "api_key.create",
        "license.revoke",
        "license.suspend",
        "license.generate",
        "api_key.create",  # the account's first key, made by `accounts create`
    ]

    events = vendor_cli(server, key, tmp_path, "licenses", "events", lic.license_key)
    assert events["total"] == 3 and events["events"][0]["type"] == "license.revoke"
    audit = vendor_cli(server, key, tmp_path, "audit", "--type", "license.suspend")
    assert [(e["type"], e["license_key"]) for e in audit] == [("license.suspend", lic.license_key)]
    assert [e["type"] for e in vendor_cli(server, key, tmp_path, "audit", "--limit", "2")] == (
        trail[:2]
    )

    with server.client() as http:
        too_large = http.post(
            "/api/v1/licenses/generate",
            content=b"x" * (2 * 1024 * 1024),
            headers={"Authorization": f"Bearer {key}"},
        )
        assert too_large.status_code == 413
        metrics = http.get("/metrics").text
    assert (
        'quantumlock_http_requests_total{method="POST",route="/api/v1/licenses/generate",'
        'status="413"}' in metrics
    )
    assert 'quantumlock_license_validations_total{code="REVOKED"} 1.0' in metrics
    assert 'quantumlock_licenses_issued_total{mode="live",plan="startup"} 1.0' in metrics
    assert 'quantumlock_license_quota_remaining{plan="startup"}' in metrics
    assert 'quantumlock_key_cache_total{result="hit"}' in metrics

    # The log file: JSON lines (stdout is a file), lifecycle events with their request ids.
    # Info lines are written every half second: wait for them, not for a time.
    expected = [
        "license.generate",
        "license.suspend",
        "license.revoke",
        "api_key.create",
        "api_key.revoke",
    ]
    deadline = time.monotonic() + 10
    while True:
        changes = _changes(server.log_path, created["id"])
        if len(changes) >= len(expected) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [e["event"] for e in changes] == expected
    assert all(e["request_id"].startswith("req_") for e in changes)
    assert lic.license_key not in server.log_path.read_text()
