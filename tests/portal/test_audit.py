"""/portal/account/audit and /portal/account/audit.csv: the account's trail with the rules
of GET /api/v2/audit (scope admin, the account's own events), filters (type, dates, actor),
cursor pages, and a CSV download that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.audit.service import AuditService
from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.identity.events import record_event
from quantumlock.portal.audit import CSV_COLUMNS, safe_cell
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.portal.support import portal_user

PAGE = "/portal/account/audit"
CSV = PAGE + ".csv"


def new_key(client: TestClient, account: AccountFixture, name: str = "k") -> str:
    made = client.post("/api/v2/keys", json={"name": name}, headers=bearer(account.admin_key))
    assert made.status_code == 201, made.text
    key_id: str = made.json()["data"]["id"]
    return key_id


def actor_of(client: TestClient, account: AccountFixture, key_id: str) -> str:
    """Who created the key (the account's admin key), as the audit API says."""
    trail = client.get(
        "/api/v2/audit", params={"type": "api_key.create"}, headers=account.headers
    ).json()["data"]["events"]
    return str(next(e["actor_key_id"] for e in trail if e["object_id"] == key_id))


def hostile_event(app: FastAPI, account_id: str) -> None:
    """An event whose cells an attacker could choose (a user's email, a client address)."""
    with app.state.runtime.unit_of_work() as session:
        record_event(
            session,
            account_id=account_id,
            action="user.create",
            actor_id="-2+3",
            object_id='=HYPERLINK("https://evil.example","x")',
            address="@SUM(1)",
            detail={"email": "=cmd|' /C calc'!A0"},
        )


def rows_of(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_the_service_filters_by_actor(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key_id = new_key(client, account)
    hostile_event(app, account.id)
    with app.state.runtime.unit_of_work() as session:
        service = AuditService(session)
        caller = Actor.operator(account.id)
        everything = service.page(caller, limit=100).events
        only = service.page(caller, actor="-2+3", limit=100).events
        none = service.page(caller, actor="usr_nobody", limit=100).events
    assert "-2+3" in {e.actor_key_id for e in everything}
    assert key_id in {e.object_id for e in everything}
    assert [e.action for e in only] == ["user.create"] and none == []


def test_the_page_lists_and_filters_the_accounts_events(
    app: FastAPI, client: TestClient, account: AccountFixture, make_account: MakeAccount
) -> None:
    key_id = new_key(client, account, "build server")
    stranger = make_account()
    stranger_key = new_key(client, stranger, "their key")
    admin = portal_user(app, account, "admin")
    page = admin.client.get(PAGE)
    assert page.status_code == 200
    assert key_id in page.text and "api_key.create" in page.text
    assert stranger_key not in page.text  # another account's events never show
    assert (
        '<th scope="col">When</th>' in page.text and 'href="/portal/account/audit.csv"' in page.text
    )

    by_type = admin.client.get(PAGE, params={"type": "user.login"})
    assert by_type.status_code == 200 and key_id not in by_type.text
    assert 'value="user.login" selected' in by_type.text
    assert 'href="/portal/account/audit.csv?type=user.login"' in by_type.text

    actor = actor_of(client, account, key_id)
    by_actor = admin.client.get(PAGE, params={"actor": actor})
    assert key_id in by_actor.text and "<code>user.login</code>" not in by_actor.text
    assert admin.client.get(PAGE, params={"actor": "usr_nobody"}).text.count("<tr>") == 0

    today = utcnow().date()
    same_day = admin.client.get(PAGE, params={"since": str(today), "until": str(today)})
    assert key_id in same_day.text  # "To" includes its whole day
    later = admin.client.get(PAGE, params={"since": str(today + timedelta(days=1))})
    assert key_id not in later.text and "No events match." in later.text
    earlier = admin.client.get(PAGE, params={"until": str(today - timedelta(days=1))})
    assert key_id not in earlier.text


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "yesterday"}, "From: a date such as"),
        ({"since": "2026-02-02", "until": "2026-02-01"}, "the end date is before the start date"),
        ({"type": "license.explode"}, "Event type: choose one from the list."),
        ({"cursor": "not-a-cursor"}, "cursor: not a cursor from a previous page"),
        ({"cursor": "x" * 300}, "This page link is damaged"),
        ({"actor": "a" * 65}, "Actor: at most 64 characters"),
    ],
)
def test_bad_filters_are_a_400_in_plain_words(
    app: FastAPI, client: TestClient, account: AccountFixture, params: dict[str, str], words: str
) -> None:
    admin = portal_user(app, account, "admin")
    answer = admin.client.get(PAGE, params=params)
    assert answer.status_code == 400 and words in html.unescape(answer.text)
    assert 'role="alert"' in answer.text and "Traceback" not in answer.text
    if "since" in params:
        assert f'value="{params["since"]}"' in answer.text  # the form keeps what was typed
    if "cursor" not in params:
        assert admin.client.get(CSV, params=params).status_code == 400


def test_pages_follow_the_cursor_with_the_filters_kept(
    app: FastAPI, client: TestClient, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("quantumlock.portal.audit.PAGE_SIZE", 2)
    made = [new_key(client, account, f"k{i}") for i in range(3)]
    admin = portal_user(app, account, "admin")
    first = admin.client.get(PAGE, params={"type": "api_key.create"})
    link = re.search(r'href="(/portal/account/audit\?[^"]*cursor=[^"]+)">Older events', first.text)
    assert link, first.text
    assert "type=api_key.create" in link.group(1)
    second = admin.client.get(html.unescape(link.group(1)))
    assert second.status_code == 200 and "First page" in second.text
    on_first = sorted((first.text.index(k), k) for k in made if k in first.text)
    on_second = [k for k in made if k in second.text]
    assert [k for _, k in on_first] == made[:0:-1] and on_second == made[:1]  # newest first


def test_csv_export_same_filters_attachment_and_no_formulas(
    app: FastAPI, client: TestClient, account: AccountFixture, make_account: MakeAccount
) -> None:
    key_id = new_key(client, account)
    hostile_event(app, account.id)
    new_key(client, make_account())  # another account's: never in the file
    admin = portal_user(app, account, "admin")
    answer = admin.client.get(CSV)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(
        r'attachment; filename="audit-\d{8}-\d{6}\.csv"', answer.headers["content-disposition"]
    )
    assert answer.headers["cache-control"] == "no-store"
    rows = rows_of(answer.text)
    assert list(rows[0].keys()) == list(CSV_COLUMNS)
    hostile = next(r for r in rows if r["type"] == "user.create" and r["actor"] == "'-2+3")
    assert hostile["object_id"] == '\'=HYPERLINK("https://evil.example","x")'
    assert hostile["address"] == "'@SUM(1)"
    assert hostile["detail"].startswith("{")  # JSON: starts with a brace, never a formula
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert any(r["object_id"] == key_id and r["type"] == "api_key.create" for r in rows)
    assert {r["type"] for r in rows} >= {"api_key.create", "user.create"}

    filtered = rows_of(admin.client.get(CSV, params={"type": "api_key.create"}).text)
    assert filtered and {r["type"] for r in filtered} == {"api_key.create"}
    by_actor = rows_of(admin.client.get(CSV, params={"actor": "-2+3"}).text)
    assert [r["type"] for r in by_actor] == ["user.create"]
    tomorrow = str(utcnow().date() + timedelta(days=1))
    assert rows_of(admin.client.get(CSV, params={"since": tomorrow}).text) == []


def test_the_csv_streams_every_batch(
    app: FastAPI, client: TestClient, account: AccountFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("quantumlock.portal.audit.CSV_BATCH", 2)
    made = [new_key(client, account, f"k{i}") for i in range(5)]
    admin = portal_user(app, account, "admin")
    rows = rows_of(admin.client.get(CSV, params={"type": "api_key.create"}).text)
    assert [r["object_id"] for r in rows if r["object_id"] in made] == made[::-1]


def test_safe_cell() -> None:
    for risky in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert safe_cell(risky) == "'" + risky
    assert safe_cell("usr_1") == "usr_1" and safe_cell("") == ""


def test_members_and_viewers_are_refused(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    for role in ("member", "viewer"):
        user = portal_user(app, account, role)
        for path, words in ((PAGE, "see the account's audit log"), (CSV, "export")):
            refused = user.client.get(path)
            assert refused.status_code == 403, (role, path)
            assert "Your role does not allow you to " + words in html.unescape(refused.text)
    owner = portal_user(app, account, "owner")
    assert owner.client.get(PAGE).status_code == 200
