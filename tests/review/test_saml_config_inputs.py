"""Review of #20 (configuration): input that the API accepted but that breaks sign-in later,
or that it read as something else than what was sent.

* A URL python3-saml will not use (a non-ASCII host or path: IDN, NBSP, U+2028) was stored,
  and every sign-in then failed with a 503 and an error log: the configuration must refuse
  what the sign-in side cannot use, with a 400 naming the field.
* JSON type confusion: `"sso_required": "false"`, `"enabled": "yes"`, `"clock_skew_seconds":
  true` or `"60"` were coerced (pydantic's lax mode) instead of refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.saml_config import material as m
from tests.saml_config.test_config_api import SAML, fields, refused

UNUSABLE_URLS = [
    "https://例え.jp/sso",
    "https://exämple.com/sso",
    "https://idp.example.com/\u2028x",
    "https://idp.example.com/\u00a0x",
    "https://[::ffff:1.2.3.4]/sso",
]


@pytest.mark.parametrize("url", UNUSABLE_URLS)
@pytest.mark.parametrize("field", ["idp_sso_url", "idp_slo_url"])
def test_a_url_the_sign_in_side_cannot_use_is_refused(
    client: TestClient, account: AccountFixture, url: str, field: str
) -> None:
    assert refused(client, account.admin_key, fields(**{field: url})) == field
    assert client.get(SAML, headers=account.headers).status_code == 404


@pytest.mark.parametrize("url", UNUSABLE_URLS)
def test_such_a_url_in_metadata_is_refused(
    client: TestClient, account: AccountFixture, url: str
) -> None:
    xml = m.idp_metadata(sso=((m.REDIRECT, url),))
    assert refused(client, account.admin_key, {"idp_metadata_xml": xml}) == "idp_metadata_xml"


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example.com/sso?a=b",
        "HTTPS://idp.example.com/sso",
        "https://xn--e1afmkfd.xn--p1ai/sso",  # an IDN, given as punycode
        "https://idp/sso",
        "http://[::1]:8080/sso",
    ],
)
def test_an_accepted_url_signs_in(client: TestClient, account: AccountFixture, url: str) -> None:
    made = client.put(SAML, json=fields(idp_sso_url=url), headers=account.headers)
    assert made.status_code == 201, made.text
    login = client.get(f"/saml/{account.id}/login?next=/x", follow_redirects=False)
    assert login.status_code == 303, login.text[:300]
    assert login.headers["location"].startswith(url)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"sso_required": "false"}, "sso_required"),
        ({"enabled": "yes"}, "enabled"),
        ({"jit_provisioning": 0}, "jit_provisioning"),
        ({"allow_idp_initiated": "true"}, "allow_idp_initiated"),
        ({"clock_skew_seconds": True}, "clock_skew_seconds"),
        ({"clock_skew_seconds": "60"}, "clock_skew_seconds"),
        ({"attributes": {"email": 5}}, "attributes.email"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_json_of_the_wrong_type_is_a_400(
    client: TestClient, account: AccountFixture, extra: dict[str, Any], field: str, method: str
) -> None:
    if method == "PATCH":
        assert client.put(SAML, json=fields(), headers=account.headers).status_code == 201
    body = fields(**extra) if method == "PUT" else extra
    assert refused(client, account.admin_key, body, method) == field
