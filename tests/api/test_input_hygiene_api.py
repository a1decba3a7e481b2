"""Input hygiene at the root (quantumlock.web.hygiene, web.errors): U+0000 anywhere, non-strict
JSON, and a value the database refuses are 400 VALIDATION_ERROR on every route, never a 500,
and no log line carries the SQL's bound parameters. Runs on SQLite and PostgreSQL (where a
NUL in text was a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from quantumlock.db.engine import make_engine
from quantumlock.licensing.service import LicenseService
from quantumlock.observability.logging import flush_logs
from quantumlock.web.hygiene import NUL_DETAIL, STRICT_JSON_DETAIL
from tests.api.test_auth_api import assert_error
from tests.conftest import AccountFixture, bearer

MARKER = "hygiene-marker-7f3a"  # a value whose every appearance in the logs is a leak


def _validate_only_key(client: TestClient, account: AccountFixture) -> str:
    made = client.post(
        "/api/v2/keys",
        json={"name": "shipped", "scopes": ["licenses:validate"]},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["data"]["key"])


def _assert_nul_refused(resp: Any, where: str) -> None:
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert body["detail"] == NUL_DETAIL
    assert body["errors"] == [{"loc": [where], "msg": NUL_DETAIL, "type": "string_nul"}]


def test_nul_in_every_kind_of_input_is_400(
    client: TestClient, account: AccountFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    validate_key = _validate_only_key(client, account)
    admin = account.headers
    # The least-privileged key, on the hot (fast-path) route.
    resp = client.post(
        "/api/v1/licenses/validate",
        json={"license_key": f"QLOCK{MARKER}\u0000", "end_customer_id": "c"},
        headers=bearer(validate_key),
    )
    _assert_nul_refused(resp, "body")
    # A body string, on a FastAPI `body: Model` route; in a key name; in a metadata key.
    for path, payload in [
        ("/api/v1/licenses/generate", {"end_customer_id": f"{MARKER}\u0000"}),
        ("/api/v2/keys", {"name": f"{MARKER}\u0000"}),
        ("/api/v1/licenses/generate", {"end_customer_id": "c", "metadata": {"k\u0000": 1}}),
    ]:
        _assert_nul_refused(client.post(path, json=payload, headers=admin), "body")
    # Path ids and query filters (percent-encoded, as a client sends them).
    for path in [
        f"/api/v1/licenses/QLOCK-{MARKER}%00",
        f"/api/v2/keys/key_{MARKER}%00",
        f"/api/v1/quantum/keys/{MARKER}%00",
    ]:
        _assert_nul_refused(client.get(path, headers=admin), "path")
    _assert_nul_refused(client.delete(f"/api/v2/keys/key_{MARKER}%00", headers=admin), "path")
    resp = client.get(f"/api/v1/licenses?end_customer_id={MARKER}%00", headers=admin)
    _assert_nul_refused(resp, "query")
    flush_logs()
    assert MARKER not in capfd.readouterr().out


def test_an_escaped_backslash_before_u0000_is_not_a_nul(
    client: TestClient, account: AccountFixture
) -> None:
    raw = b'{"end_customer_id": "c", "metadata": {"note": "literally \\\\u0000"}}'
    resp = client.post(
        "/api/v1/licenses/generate",
        content=raw,
        headers={**account.headers, "content-type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    got = client.get(f"/api/v1/licenses/{resp.json()['license_key']}", headers=account.headers)
    assert got.json()["metadata"] == {"note": "literally \\u0000"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"end_customer_id": "c", "metadata": {"x": NaN}}',
        b'{"end_customer_id": "c", "metadata": {"x": Infinity}}',
        b'{"end_customer_id": "c", "metadata": {"x": -Infinity}}',
        b'{"end_customer_id": "c", "metadata": {"x": 1e400}}',
        b'{"end_customer_id": "c", "metadata": {"x": -1e400}}',
        b'{"end_customer_id": "c", "metadata": {"x": "\\ud800"}}',
        b'{"end_customer_id": "c", "metadata": {"\\udc00": 1}}',
        b'{"end_customer_id": "c", "metadata": {"x": "\xed\xa0\x80"}}',  # CESU-8 surrogate
    ],
)
def test_non_strict_json_is_400_on_every_route(
    client: TestClient, account: AccountFixture, raw: bytes
) -> None:
    headers = {**account.headers, "content-type": "application/json"}
    # A FastAPI `body: Model` route (metadata: dict[str, Any] took all of these) ...
    body = assert_error(
        client.post("/api/v1/licenses/generate", content=raw, headers=headers),
        400,
        "VALIDATION_ERROR",
    )
    assert body["detail"] == STRICT_JSON_DETAIL
    assert body["errors"][0]["loc"] == ["body"]
    # ... a fast route (pydantic-core's parser) and a route that takes no body at all.
    for path in ["/api/v1/quantum/entropy", "/api/v2/keys"]:
        resp = client.post(path, content=raw, headers=headers)
        assert_error(resp, 400, "VALIDATION_ERROR")
        assert resp.json()["detail"] == STRICT_JSON_DETAIL
    listed = client.get("/api/v1/licenses", headers=account.headers)
    assert listed.status_code == 200 and listed.json()["total"] == 0  # nothing was stored


def test_a_float_field_refuses_non_finite_numbers(
    client: TestClient, account: AccountFixture
) -> None:
    for token in (b"NaN", b"Infinity", b"1e999"):
        resp = client.post(
            "/api/v1/quantum/entropy",
            content=b'{"bits": ' + token + b"}",
            headers={**account.headers, "content-type": "application/json"},
        )
        assert_error(resp, 400, "VALIDATION_ERROR")


def test_plain_invalid_json_keeps_its_own_answer(
    client: TestClient, account: AccountFixture
) -> None:
    # Not JSON for any parser: the route answers as before (after authentication).
    assert_error(client.post("/api/v1/licenses/validate", content=b"not json"), 401, "UNAUTHORIZED")
    body = assert_error(
        client.post(
            "/api/v1/licenses/validate",
            content=b'{"license_key": ',
            headers={**account.headers, "content-type": "application/json"},
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert body["detail"] == "Request body is not valid JSON."


def test_engines_hide_sql_parameters(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()


def _nul_statement(session: Session) -> None:
    # A value PostgreSQL refuses (text with a NUL), sent as a bound parameter.
    session.execute(text("SELECT CAST(:v AS text)"), {"v": f"{MARKER}\x00"})


def test_a_database_data_error_is_400_and_its_parameters_never_logged(
    client: TestClient,
    account: AccountFixture,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores a NUL: the DataError is PostgreSQL's")

    def list_refused(self: LicenseService, *_args: Any, **_kwargs: Any) -> Any:
        _nul_statement(self.session)

    def load_refused(self: LicenseService, *_args: Any, **_kwargs: Any) -> Any:
        _nul_statement(self.session)

    monkeypatch.setattr(LicenseService, "list", list_refused)
    monkeypatch.setattr(LicenseService, "load_many_for_validation", load_refused)
    capfd.readouterr()
    # A FastAPI route (the app's exception handler) ...
    listed = client.get("/api/v1/licenses", headers=account.headers)
    body = assert_error(listed, 400, "VALIDATION_ERROR")
    assert MARKER not in listed.text
    # ... and a fast route (its own dispatch).
    validated = client.post(
        "/api/v1/licenses/validate",
        json={"license_key": "QLOCK-AAAA-BBBB-CCCC-DDDD", "end_customer_id": "c"},
        headers=account.headers,
    )
    assert assert_error(validated, 400, "VALIDATION_ERROR")["detail"] == body["detail"]
    flush_logs()
    out = capfd.readouterr()
    assert "database_refused_value" in out.out
    assert MARKER not in out.out + out.err
