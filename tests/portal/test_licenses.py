"""The portal's licenses: list with search, filters and pages; generate; detail with the
validation history and audit trail; suspend, reinstate, renew, revoke; the license file;
signing keys. Roles as the API's scopes, CSRF on every POST, bad input as a 400 page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from qcos.licensing import verify_license_file
from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import limits_of_account
from quantumlock.accounts.service import AccountService
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.licensing.domain import LicensingDomain
from quantumlock.licensing.models import License, SigningKey
from tests.api.test_licenses_api import validate
from tests.conftest import AccountFixture
from tests.portal.support import PortalUser, portal_user

LIST = "/portal/licenses"


def make_license(
    app: FastAPI,
    account_id: str,
    customer: str = "customer-1",
    features: Sequence[str] = ("premium",),
    days: int = 365,
) -> str:
    """A live license of the account, generated through the service; its key."""
    licensing: LicensingDomain = app.state.licensing
    with app.state.runtime.unit_of_work() as session:
        limits = limits_of_account(AccountService(session).get(account_id))
        lic, _ = licensing.service(session).generate(
            Actor.operator(account_id),
            limits,
            end_customer_id=customer,
            features=list(features),
            valid_days=days,
            metadata={},
        )
        return lic.license_key


def status_of(app: FastAPI, license_key: str) -> str:
    with app.state.runtime.unit_of_work() as session:
        lic = session.query(License).filter_by(license_key=license_key).one()
        return str(lic.status)


def keys_on(html: str) -> list[str]:
    """The license keys the list page links to, in order."""
    return re.findall(r'href="/portal/licenses/(QLOCK-[0-9A-F-]+)"', html)


def test_empty_state_then_generate_and_see_it(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    page = owner.client.get(LIST)
    assert page.status_code == 200
    assert "No licenses yet." in page.text
    assert 'href="/portal/licenses/new"' in page.text
    form = owner.client.get(f"{LIST}/new")
    assert form.status_code == 200
    assert "licenses generated this month" in form.text
    made = owner.post(
        f"{LIST}/new",
        {
            "end_customer_id": "acme-factory-7",
            "features": "premium, api_access, premium",
            "valid_days": "30",
            "metadata": '{"seats": 5}',
        },
    )
    assert made.status_code == 303, made.text[:500]
    location = made.headers["location"]
    assert location.endswith("?done=generated")
    detail = owner.client.get(location)
    assert detail.status_code == 200
    assert "License generated." in detail.text
    assert "acme-factory-7" in detail.text
    assert "premium, api_access" in detail.text
    assert "&#34;seats&#34;: 5" in detail.text or '"seats": 5' in detail.text
    assert ">generate<" in detail.text  # the audit trail's first event
    assert "No validations in the last 30 days." in detail.text
    listed = owner.client.get(LIST)
    key = location.split("/")[-1].split("?")[0]
    assert keys_on(listed.text) == [key]
    assert "1 license." in listed.text


def test_roles_see_and_act_as_the_api_scopes_allow(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = make_license(app, account.id)
    viewer = portal_user(app, account, "viewer")
    page = viewer.client.get(LIST)
    assert page.status_code == 200 and keys_on(page.text) == [key]
    assert 'href="/portal/licenses/new"' not in page.text
    detail = viewer.client.get(f"{LIST}/{key}")
    assert detail.status_code == 200
    assert "Suspend" not in detail.text and "Revoke" not in detail.text
    assert "Renew" not in detail.text
    assert "Download the license file" in detail.text  # licenses:read, as GET /licenses/{key}
    for path in (f"{LIST}/new", f"{LIST}/{key}/revoke"):
        denied = viewer.client.get(path)
        assert denied.status_code == 403
        assert "Your role does not allow you to" in denied.text
    for action in ("suspend", "revoke", "renew"):
        denied = viewer.post(f"{LIST}/{key}/{action}", {"valid_days": "30"})
        assert denied.status_code == 403, action
    assert viewer.post(f"{LIST}/new", {"end_customer_id": "x"}).status_code == 403
    assert status_of(app, key) == "active"
    # The signing keys' list needs licenses:validate, which a viewer lacks.
    assert viewer.client.get(f"{LIST}/signing-keys").status_code == 403

    member = portal_user(app, account, "member")
    assert member.post(f"{LIST}/{key}/suspend").status_code == 303
    assert status_of(app, key) == "suspended"
    keys_page = member.client.get(f"{LIST}/signing-keys")
    assert keys_page.status_code == 200
    assert "Rotate the signing key" not in keys_page.text
    assert member.client.get(f"{LIST}/signing-keys/rotate").status_code == 403
    assert member.post(f"{LIST}/signing-keys/rotate").status_code == 403


def test_an_admin_rotates_the_signing_key(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    make_license(app, account.id)
    admin = portal_user(app, account, "admin")
    before = admin.client.get(f"{LIST}/signing-keys")
    assert "Rotate the signing key" in before.text
    (old_kid,) = re.findall(r"<code>(sk_[^<]+)</code>", before.text)
    confirm = admin.client.get(f"{LIST}/signing-keys/rotate")
    assert confirm.status_code == 200 and "Rotate the license signing key?" in confirm.text
    done = admin.post(f"{LIST}/signing-keys/rotate")
    assert done.status_code == 303
    after = admin.client.get(done.headers["location"])
    assert "A new signing key is active." in after.text
    kids = re.findall(r"<code>(sk_[^<]+)</code>", after.text)
    assert len(kids) == 2 and old_kid in kids
    with app.state.runtime.unit_of_work() as session:
        statuses = {
            k.kid: k.status for k in session.query(SigningKey).filter_by(account_id=account.id)
        }
    assert statuses[old_kid] == "verify_only"
    assert sorted(statuses.values()) == ["active", "verify_only"]


def test_a_form_without_its_csrf_token_changes_nothing(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = make_license(app, account.id)
    owner = portal_user(app, account, "owner")
    for path, form in (
        (f"{LIST}/{key}/revoke", {}),
        (f"{LIST}/{key}/suspend", {}),
        (f"{LIST}/new", {"end_customer_id": "x", "valid_days": "30"}),
        (f"{LIST}/signing-keys/rotate", {}),
    ):
        answer = owner.client.post(path, data=form, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "not sent from your current session" in answer.text
    assert status_of(app, key) == "active"
    assert keys_on(owner.client.get(LIST).text) == [key]


def test_bad_input_is_a_400_page_with_the_form_kept(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    owner = portal_user(app, account, "owner")
    kept = {"end_customer_id": "kept-customer", "valid_days": "30"}
    cases = [
        ({"end_customer_id": "", "valid_days": "30"}, "end_customer_id"),
        ({**kept, "valid_days": "0"}, "valid_days"),
        ({**kept, "valid_days": "ten"}, "whole number of days"),
        ({**kept, "metadata": "[1]"}, "JSON object"),
        ({**kept, "metadata": "{x"}, "JSON object"),
        ({**kept, "features": "a" * 65}, "features"),
    ]
    for form, words in cases:
        answer = owner.post(f"{LIST}/new", {"features": "", "metadata": "", **form})
        assert answer.status_code == 400, form
        assert words in answer.text, (form, answer.text[:3000])
        assert 'role="alert"' in answer.text
        if form["end_customer_id"]:
            assert 'value="kept-customer"' in answer.text
    assert "No licenses yet." in owner.client.get(LIST).text
    for query in ("status=bogus", "expires=5", "page=x", "page=0", "feature=" + "f" * 65):
        answer = owner.client.get(f"{LIST}?{query}")
        assert answer.status_code == 400, query
        assert 'role="alert"' in answer.text
    again = owner.client.get(f"{LIST}?status=bogus&q=kept-query")
    assert 'value="kept-query"' in again.text
    key = make_license(app, account.id)
    renew = owner.post(f"{LIST}/{key}/renew", {"valid_days": "forever"})
    assert renew.status_code == 400
    assert "whole number of days" in renew.text
    assert owner.post(f"{LIST}/{key}/renew", {"valid_days": "4000"}).status_code == 400


def test_search_and_filters(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    alpha = make_license(app, account.id, "Alpha-1", ["premium"])
    soon = make_license(app, account.id, "beta-2", ["basic"], days=5)
    paused = make_license(app, account.id, "alpha-2", ["premium", "extra"])
    gone = make_license(app, account.id, "gamma_%", ["premium_plus"])
    old = make_license(app, account.id, "delta", ["basic"])
    with app.state.runtime.unit_of_work() as session:
        session.execute(
            update(License)
            .where(License.license_key == old)
            .values(valid_until=utcnow() - timedelta(days=1))
        )
    owner = portal_user(app, account, "owner")
    assert owner.post(f"{LIST}/{paused}/suspend").status_code == 303
    assert owner.post(f"{LIST}/{gone}/revoke").status_code == 303

    def found(query: str) -> set[str]:
        page = owner.client.get(f"{LIST}?{query}")
        assert page.status_code == 200, page.text[:500]
        return set(keys_on(page.text))

    assert found("") == {alpha, soon, paused, gone, old}
    assert found("q=alpha") == {alpha, paused}  # the start of the customer id, any case
    assert found("q=lpha") == set()
    assert found(f"q={soon.lower()}") == {soon}  # a license key, any case
    assert found("q=gamma_") == {gone}
    assert found("q=gamma%25") == set()  # LIKE wildcards are literal
    assert found("status=suspended") == {paused}
    assert found("status=revoked") == {gone}
    assert found("status=expired") == {old}
    assert found("status=active") == {alpha, soon}
    assert found("feature=premium") == {alpha, paused}  # an element, not a substring
    assert found("feature=prem") == set()
    assert found("expires=7") == {soon}
    assert found("q=alpha&feature=extra") == {paused}
    page = owner.client.get(f"{LIST}?feature=nothing")
    assert "No license matches these filters." in page.text


def test_pages(app: FastAPI, client: TestClient, account: AccountFixture) -> None:
    made = [make_license(app, account.id, f"c-{i:02d}") for i in range(27)]
    owner = portal_user(app, account, "owner")
    first = owner.client.get(f"{LIST}?q=c-")
    assert keys_on(first.text) == made[::-1][:25]  # newest first
    assert "Page 1 of 2" in first.text
    assert 'href="/portal/licenses?q=c-&amp;page=2"' in first.text
    second = owner.client.get(f"{LIST}?q=c-&page=2")
    assert keys_on(second.text) == made[::-1][25:]
    assert 'href="/portal/licenses?q=c-"' in second.text  # Previous page
    assert keys_on(owner.client.get(f"{LIST}?page=9").text) == []


def test_lifecycle_through_the_portal(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = make_license(app, account.id, "customer-1", days=10)
    owner = portal_user(app, account, "owner")

    def act(action: str, data: dict[str, str | list[str]] | None = None) -> str:
        answer = owner.post(f"{LIST}/{key}/{action}", data)
        assert answer.status_code == 303, answer.text[:500]
        return str(owner.client.get(answer.headers["location"]).text)

    page = act("suspend")
    assert "License suspended" in page
    assert validate(client, account.admin_key, key, "customer-1")["code"] == "SUSPENDED"
    assert "Reinstate" in page and ">Suspend<" not in page
    page = act("reinstate")
    assert "License reinstated" in page
    assert validate(client, account.admin_key, key, "customer-1")["code"] == "VALID"
    with app.state.runtime.unit_of_work() as session:
        before = as_utc(session.query(License).filter_by(license_key=key).one().valid_until)
    page = act("renew", {"valid_days": "30"})
    assert "License renewed" in page
    with app.state.runtime.unit_of_work() as session:
        after = as_utc(session.query(License).filter_by(license_key=key).one().valid_until)
    assert after - before == timedelta(days=30)
    confirm = owner.client.get(f"{LIST}/{key}/revoke")
    assert confirm.status_code == 200
    assert "Revoking is final" in confirm.text
    assert status_of(app, key) == "active"  # the confirm page changes nothing
    page = act("revoke")
    assert "License revoked" in page
    assert validate(client, account.admin_key, key, "customer-1")["code"] == "REVOKED"
    assert "Revoke…" not in page and "Renew" not in page
    trail = re.findall(r"<td>(generate|suspend|reinstate|renew|revoke)</td>", page)
    assert trail == ["revoke", "renew", "reinstate", "suspend", "generate"]
    assert page.count("<td>You</td>") == 4
    refused = owner.post(f"{LIST}/{key}/suspend")
    assert refused.status_code == 409
    assert "Cannot suspend a revoked license." in refused.text


def test_the_license_file_downloads(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = make_license(app, account.id, "customer-1", ["premium"])
    viewer = portal_user(app, account, "viewer")
    answer = viewer.client.get(f"{LIST}/{key}/file")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="{key}.lic"'
    assert answer.headers["cache-control"] == "no-store"
    with app.state.runtime.unit_of_work() as session:
        stored = session.query(License).filter_by(license_key=key).one().license_file
    assert answer.text == stored + "\n"
    keys = client.get("/api/v1/licenses/signing-keys", headers=account.headers).json()
    verified = verify_license_file(answer.text.strip(), keys)
    assert verified.license_key == key
    missing = viewer.client.get(f"{LIST}/QLOCK-0000-0000-0000/file")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_validations_show_in_the_history_after_a_flush(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    key = make_license(app, account.id, "customer-1", ["premium"])
    for _ in range(3):
        assert validate(client, account.admin_key, key, "customer-1")["valid"]
    validate(client, account.admin_key, key, "somebody-else")
    app.state.licensing.flush_validations()
    owner = portal_user(app, account, "owner")
    page = owner.client.get(f"{LIST}/{key}").text
    day = utcnow().strftime("%Y-%m-%d")
    header = re.search(r"<thead><tr><th scope=\"col\">Day</th>(.*?)</tr></thead>", page)
    assert header is not None
    assert re.findall(r">([A-Z_]+)<", header.group(1)) == ["VALID", "CUSTOMER_MISMATCH"]
    assert f'<tr><th scope="row">{day}</th><td>3</td><td>1</td></tr>' in page


def test_a_spent_quota_is_said_in_plain_words(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    with app.state.runtime.unit_of_work() as session:
        session.execute(
            update(Account).where(Account.id == account.id).values(licenses_per_month=1)
        )
    owner: PortalUser = portal_user(app, account, "owner")
    form: dict[str, str | list[str]] = {
        "end_customer_id": "c1",
        "valid_days": "30",
        "features": "",
        "metadata": "",
    }
    assert owner.post(f"{LIST}/new", form).status_code == 303
    refused = owner.post(f"{LIST}/new", {**form, "end_customer_id": "second-customer"})
    assert refused.status_code == 429
    assert "monthly license quota is used up" in refused.text
    assert 'value="second-customer"' in refused.text
    assert len(keys_on(owner.client.get(LIST).text)) == 1
