# ruff: noqa: F811 - pytest fixtures imported from tests/saml/conftest.py
"""Review of #20: every GET /saml/{account_id}/login writes a SamlRequest row (and signs an
AuthnRequest): without a budget one address could fill the table at will. It shares the
per-address budget of POST /login, like the ACS and /login/sso."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from quantumlock.settings import Settings
from tests.saml.conftest import flow, idp, idp_keys  # noqa: F401 - the test IdP's fixtures
from tests.saml.support import SamlFlow

BURST = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"login_attempts_burst": BURST, "login_attempts_per_minute": 1}
    )


def test_sp_initiated_login_is_rate_limited_per_address(flow: SamlFlow) -> None:
    for _ in range(BURST):
        answer = flow.http.get(flow.base + "/login", follow_redirects=False)
        assert answer.status_code == 303, answer.text[:300]
    answer = flow.http.get(flow.base + "/login", follow_redirects=False)
    assert answer.status_code == 429, answer.status_code
    assert answer.headers["content-type"].startswith("text/html")
    assert int(answer.headers["Retry-After"]) >= 1


def test_unknown_accounts_spend_the_budget_too(client: TestClient) -> None:
    for _ in range(BURST):
        assert client.get("/saml/acc_nope/login", follow_redirects=False).status_code == 404
    answer = client.get("/saml/acc_nope/login", follow_redirects=False)
    assert answer.status_code == 429
