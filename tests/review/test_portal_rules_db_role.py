"""Review: a user row whose role is not one the service knows (a database edit, a role from
a newer version) made every portal page of that user a JSON 500 ("Internal server error")
instead of a page. The portal now answers a 403 page that says so, and grants nothing."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.identity.models import User
from tests.conftest import AccountFixture
from tests.portal.support import portal_user


def test_an_unknown_role_is_a_403_page_not_a_500(
    app: FastAPI, client: TestClient, account: AccountFixture
) -> None:
    member = portal_user(app, account, "member")
    with app.state.runtime.unit_of_work() as session:
        user = session.get(User, member.user_id)
        assert user is not None
        user.role = "superuser"
    for path in ("/portal", "/portal/settings/api-keys", "/portal/settings/api-keys/new"):
        answer = member.client.get(path, follow_redirects=False)
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
        assert "role" in answer.text
