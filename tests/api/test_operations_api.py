"""#18 item 7, operations: log formats, log events (429s, license and key changes), route
labels of answers given before routing, and the business metrics on /metrics."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.observability.logging import (
    configure_cli_logging,
    configure_logging,
    flush_logs,
    resolve_format,
)
from quantumlock.settings import Settings
from tests.conftest import AccountFixture, MakeAccount, bearer

GEN = "/api/v1/licenses/generate"


def log_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    flush_logs()
    out = capfd.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def metric(text: str, name: str, **labels: str) -> float:
    """The sample's value, 0.0 when the series is not there (yet)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(f"{name}{{{want}}}" if labels else name) + r" ([0-9.e+-]+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def generate(client: TestClient, key: str, customer: str = "c-1") -> dict[str, Any]:
    made = client.post(GEN, json={"end_customer_id": customer}, headers=bearer(key))
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


# -- log formats ---------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_format_follows_the_terminal_unless_forced() -> None:
    assert resolve_format("auto", _Tty()) == "console"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", _Tty()) == "json"
    assert resolve_format("console", io.StringIO()) == "console"
    assert Settings(log_format="CONSOLE").log_format == "console"


@pytest.mark.parametrize(("forced", "is_json"), [("json", True), ("console", False)])
def test_the_cli_logs_to_stderr_in_the_format_asked_for(
    forced: str, is_json: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QL_LOG_FORMAT", forced)
    try:
        configure_cli_logging()
        structlog.get_logger("quantumlock.cli").warning("disk_almost_full", free_mb=12)
        captured = capsys.readouterr()
    finally:
        configure_logging("INFO", "json")
    assert captured.out == ""  # stdout is the command's own output
    line = captured.err.strip().splitlines()[-1]
    assert "disk_almost_full" in line and "free_mb" in line
    assert line.startswith("{") is is_json


@pytest.fixture
def console_app(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"log_format": "console"}))
    try:
        yield app
    finally:
        configure_logging(settings.log_level, "json")


def test_console_format_renders_the_access_log_for_people(
    console_app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(console_app) as client:
        capfd.readouterr()
        client.get("/health/live")
        flush_logs()
        out = capfd.readouterr().out
    line = next(line for line in out.splitlines() if "request" in line and "/health/live" in line)
    assert not line.startswith("{")  # not JSON
    assert "route" in line and "status" in line and "200" in line


# -- route labels of answers given before routing ------------------------------------------


def test_answers_before_routing_carry_their_route_template(
    client: TestClient, account: AccountFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    big = b'{"end_customer_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_large = client.post(GEN, content=big, headers=account.headers)
    assert too_large.status_code == 413
    # A NUL in the path: refused by the hygiene check before any route ran.
    nul = client.get("/api/v1/licenses/QLOCK-%00/events", headers=account.headers)
    assert nul.status_code == 400
    # Non-strict JSON on the fast validation route.
    nan = client.post(
        "/api/v1/licenses/validate",
        content=b'{"license_key": "x", "end_customer_id": NaN}',
        headers=account.headers,
    )
    assert nan.status_code == 400
    # A fast route's own answer (no key: 401), served past FastAPI's routing.
    assert client.post("/api/v1/licenses/validate", json={}).status_code == 401
    # Some path nobody serves: one label for all of them.
    assert client.get("/wp-admin/setup-config.php?x=1").status_code == 404
    assert client.get("/docs").status_code == 200
    text = client.get("/metrics").text
    series = {
        ("POST", "/api/v1/licenses/generate", "413"),
        ("GET", "/api/v1/licenses/{license_key}/events", "400"),
        ("POST", "/api/v1/licenses/validate", "400"),
        ("POST", "/api/v1/licenses/validate", "401"),
        ("GET", "unmatched", "404"),
        ("GET", "/docs", "200"),
    }
    for method, route, status in series:
        assert (
            metric(
                text, "quantumlock_http_requests_total", method=method, route=route, status=status
            )
            >= 1
        ), (method, route, status)
    assert "wp-admin" not in text and "QLOCK-" not in text
    routes = {(e["route"], e["status"]) for e in log_lines(capfd) if e.get("event") == "request"}
    assert ("/api/v1/licenses/generate", 413) in routes
    assert ("/api/v1/licenses/{license_key}/events", 400) in routes
    assert ("unmatched", 404) in routes


def test_a_known_path_with_another_method_keeps_its_template(client: TestClient) -> None:
    assert client.put("/api/v2/me").status_code == 405
    text = client.get("/metrics").text
    assert metric(
        text, "quantumlock_http_requests_total", method="PUT", route="/api/v2/me", status="405"
    )


# -- log events ----------------------------------------------------------------------------


def test_a_429_is_a_log_event_with_its_code_request_and_account(
    client: TestClient, make_account: MakeAccount, capfd: pytest.CaptureFixture[str]
) -> None:
    free = make_account(plan="free")  # /api/v1: 10 a minute, a key's share 5
    capfd.readouterr()
    for _ in range(20):
        answer = client.get("/api/v1/licenses", headers=bearer(free.admin_key))
        if answer.status_code == 429:
            break
    assert answer.status_code == 429
    body = answer.json()
    events = [e for e in log_lines(capfd) if e.get("event") == "rate_limited"]
    assert events, "no rate_limited event"
    event = events[-1]
    assert event["code"] == "RATE_LIMIT_EXCEEDED" == body["code"]
    assert event["request_id"] == body["request_id"] == answer.headers["x-request-id"]
    assert event["account_id"] == free.id and event["key_id"].startswith("key_")
    assert event["route"] == "/api/v1/licenses"
    assert event["reason"] == body.get("reason")  # the same reason the client is told
    assert event["retry_after"] == body["retry_after"]


def test_the_monthly_quota_refusal_is_logged_and_counted(
    client: TestClient, app: FastAPI, make_account: MakeAccount, capfd: pytest.CaptureFixture[str]
) -> None:
    acct = make_account(plan="startup")
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(acct.id, licenses_per_month=1)
    app.state.auth.key_cache.clear()
    generate(client, acct.admin_key)
    capfd.readouterr()
    refused = client.post(GEN, json={"end_customer_id": "c"}, headers=bearer(acct.admin_key))
    assert refused.status_code == 429
    events = [e for e in log_lines(capfd) if e.get("event") == "rate_limited"]
    assert [e["account_id"] for e in events] == [acct.id]
    assert events[0]["detail"] == "Monthly limit reached (1 licenses)."
    assert events[0]["request_id"] == refused.json()["request_id"]
    text = client.get("/metrics").text
    assert metric(text, "quantumlock_license_quota_refusals_total", plan="startup") >= 1


def test_license_lifecycle_changes_are_log_events_without_the_license_key(
    client: TestClient, account: AccountFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    made = client.post(GEN, json={"end_customer_id": "c-1"}, headers=account.headers)
    key = made.json()["license_key"]
    answers = [made]
    for action in ("suspend", "reinstate", "revoke"):
        answers.append(client.post(f"/api/v1/licenses/{key}/{action}", headers=account.headers))
    # A refused change (revoked licenses cannot be renewed) is not an event.
    refused = client.post(
        f"/api/v1/licenses/{key}/renew", json={"valid_days": 5}, headers=account.headers
    )
    assert refused.status_code == 409
    lines = log_lines(capfd)
    events = [e for e in lines if str(e.get("event", "")).startswith("license.")]
    assert [e["event"] for e in events] == [
        "license.generate",
        "license.suspend",
        "license.reinstate",
        "license.revoke",
    ]
    for event, answer in zip(events, answers, strict=True):
        assert event["request_id"] == answer.headers["x-request-id"]
        assert event["account_id"] == account.id and event["key_id"].startswith("key_")
        assert event["license_id"].startswith("lic_") and event["mode"] == "live"
    assert events[-1]["status"] == "revoked"
    assert not [line for line in lines if key in json.dumps(line)], "license key logged"


def test_api_key_changes_are_log_events_without_secrets(
    client: TestClient, account: AccountFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    created = client.post("/api/v2/keys", json={"name": "ci"}, headers=account.headers)
    key_id = created.json()["data"]["id"]
    rotated = client.post(
        f"/api/v2/keys/{key_id}/rotate", json={"grace_period": "0s"}, headers=account.headers
    )
    new_id = rotated.json()["data"]["id"]
    revoked = client.delete(f"/api/v2/keys/{new_id}", headers=account.headers)
    assert revoked.status_code == 204
    events = [e for e in log_lines(capfd) if str(e.get("event", "")).startswith("api_key.")]
    assert [(e["event"], e["api_key_id"]) for e in events] == [
        ("api_key.create", key_id),
        ("api_key.rotate", key_id),
        ("api_key.revoke", new_id),
    ]
    for event, answer in zip(events, (created, rotated, revoked), strict=True):
        assert event["request_id"] == answer.headers["x-request-id"]
        assert event["account_id"] == account.id
    # The secrets scan (tests/secret_scan.py) fails this test if a secret reached a line.


# -- business metrics ----------------------------------------------------------------------


def test_validations_are_counted_by_result_code(
    client: TestClient, account: AccountFixture
) -> None:
    before = client.get("/metrics").text
    made = generate(client, account.admin_key)
    validate = "/api/v1/licenses/validate"
    good = {"license_key": made["license_key"], "end_customer_id": "c-1"}
    client.post(validate, json=good, headers=account.headers)
    client.post(validate, json=good, headers=account.headers)
    client.post(validate, json={**good, "end_customer_id": "other"}, headers=account.headers)
    client.post(
        validate, json={**good, "license_key": "QLOCK-0000-0000-0000"}, headers=account.headers
    )
    after = client.get("/metrics").text
    name = "quantumlock_license_validations_total"
    for code, count in (("VALID", 2), ("CUSTOMER_MISMATCH", 1), ("NOT_FOUND", 1)):
        assert metric(after, name, code=code) - metric(before, name, code=code) == count, code


def test_licenses_issued_are_counted_by_plan_and_mode(
    client: TestClient, make_account: MakeAccount
) -> None:
    acct = make_account(plan="startup")
    test_key = client.post(
        "/api/v2/keys", json={"name": "t", "type": "test"}, headers=bearer(acct.admin_key)
    ).json()["data"]["key"]
    before = client.get("/metrics").text
    generate(client, acct.admin_key)
    generate(client, acct.admin_key)
    generate(client, test_key)
    after = client.get("/metrics").text
    name = "quantumlock_licenses_issued_total"
    for mode, count in (("live", 2), ("test", 1)):
        delta = metric(after, name, plan="startup", mode=mode) - metric(
            before, name, plan="startup", mode=mode
        )
        assert delta == count, mode


def test_quota_per_plan_is_read_from_the_database_at_scrape(
    client: TestClient, app: FastAPI, make_account: MakeAccount
) -> None:
    before = client.get("/metrics").text
    acct = make_account(plan="free")  # 100 a month
    capped = make_account(plan="free")
    with app.state.runtime.unit_of_work() as session:
        AccountService(session).set_limits(capped.id, licenses_per_month=1)
    app.state.auth.key_cache.clear()
    generate(client, acct.admin_key)
    generate(client, acct.admin_key)
    generate(client, capped.admin_key)
    after = client.get("/metrics").text

    def delta(name: str) -> float:
        return metric(after, name, plan="free") - metric(before, name, plan="free")

    assert delta("quantumlock_accounts") == 2
    assert delta("quantumlock_license_quota_used") == 3
    assert delta("quantumlock_license_quota_remaining") == 98  # 100 - 2, and 1 - 1
    assert delta("quantumlock_accounts_quota_exhausted") == 1


def test_quota_metrics_are_the_databases_so_every_node_agrees(
    settings: Settings, client: TestClient, account: AccountFixture
) -> None:
    """A second app on the same database (another node) reports the same figures."""
    generate(client, account.admin_key)
    other = create_app(settings)
    with TestClient(other) as node_b:
        here, there = client.get("/metrics").text, node_b.get("/metrics").text
    for name in ("quantumlock_license_quota_used", "quantumlock_license_quota_remaining"):
        assert metric(here, name, plan="business") == metric(there, name, plan="business") > 0


def test_key_cache_hits_and_misses_are_counted(client: TestClient, account: AccountFixture) -> None:
    app_cache = client.app.state.auth.key_cache  # type: ignore[attr-defined]
    app_cache.clear()
    before = client.get("/metrics").text
    for _ in range(3):
        assert client.get("/api/v2/me", headers=account.headers).status_code == 200
    after = client.get("/metrics").text
    name = "quantumlock_key_cache_total"
    assert metric(after, name, result="miss") - metric(before, name, result="miss") == 1
    assert metric(after, name, result="hit") - metric(before, name, result="hit") == 2


def test_an_unhandled_error_is_logged_with_its_route_not_its_path(
    app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    async def boom(license_key: str) -> None:
        raise RuntimeError("bug")

    app.add_api_route("/api/v1/boom/{license_key}", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        capfd.readouterr()
        resp = client.get("/api/v1/boom/QLOCK-DEAD-BEEF-CAFE")
    assert resp.status_code == 500
    errors = [e for e in log_lines(capfd) if e.get("event") == "unhandled_error"]
    assert [e["route"] for e in errors] == ["/api/v1/boom/{license_key}"]
    assert errors[0]["request_id"] == resp.headers["x-request-id"]
    assert "QLOCK-DEAD-BEEF-CAFE" not in json.dumps(errors)
