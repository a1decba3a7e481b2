"""Driving QuantumLock's SP with the test IdP, over any HTTP client (an in-process TestClient
or httpx against a real server): the connection through /api/v2/sso/saml, the SP metadata,
the browser's trip (login → IdP → ACS), and the audit trail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.saml.idp import AuthnRequestSeen, ResponseParams, TestIdp, User, encode_post

SSO = "/api/v2/sso/saml"
SESSION_COOKIE = "ql_session"
ADMIN_GROUP = "ql-admins"


def unique_email(local: str = "ada", domain: str = "example.com") -> str:
    # each pytest worker shares one database: emails must not collide between tests
    return f"{local}-{uuid.uuid4().hex[:8]}@{domain}"


def data_of(answer: httpx.Response) -> Any:
    body = answer.json()
    return body["data"] if isinstance(body, dict) and "data" in body else body


@dataclass
class SamlFlow:
    """One account's connection to `idp`, seen through `http` (cookies included)."""

    http: httpx.Client  # TestClient is an httpx.Client
    idp: TestIdp
    account_id: str
    admin_key: str
    connection: dict[str, Any] = field(default_factory=dict)
    sp_metadata: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def base(self) -> str:
        return f"/saml/{self.account_id}"

    @property
    def sp_entity_id(self) -> str:
        return str(self.connection["sp"]["entity_id"])

    @property
    def acs_url(self) -> str:
        return str(self.connection["sp"]["acs_url"])

    @property
    def slo_url(self) -> str:
        return str(self.connection["sp"]["slo_url"])

    # -- configuration through the real API ----------------------------------------------
    def configure(self, **fields: Any) -> dict[str, Any]:
        body = {
            "idp_metadata_xml": self.idp.metadata_xml(),
            "default_role": "viewer",
            "group_roles": {ADMIN_GROUP: "admin", "engineering": "member"},
            **fields,
        }
        answer = self.http.put(SSO, json=body, headers=self.headers)
        assert answer.status_code in (200, 201), answer.text
        self.connection = data_of(answer)
        self.trust_sp()
        return self.connection

    def update(self, **fields: Any) -> dict[str, Any]:
        answer = self.http.patch(SSO, json=fields, headers=self.headers)
        assert answer.status_code == 200, answer.text
        self.connection = data_of(answer)
        return self.connection

    def trust_sp(self) -> None:
        answer = self.http.get(self.base + "/metadata")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/samlmetadata+xml")
        self.sp_metadata = answer.text
        self.idp.trust_sp(answer.text)

    # -- the browser's trip --------------------------------------------------------------
    def begin(self, next_path: str = "/dashboard") -> AuthnRequestSeen:
        """GET /saml/{account}/login → 303 to the IdP; the IdP reads (and checks) it."""
        answer = self.http.get(
            self.base + "/login", params={"next": next_path}, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text
        location = answer.headers["location"]
        assert location.startswith(self.idp.sso_url + "?"), location
        return self.idp.read_authn_request(location)

    def post(
        self, response_xml: str, relay_state: str | None = None, http: httpx.Client | None = None
    ) -> httpx.Response:
        form = {"SAMLResponse": encode_post(response_xml)}
        if relay_state is not None:
            form["RelayState"] = relay_state
        return (http or self.http).post(self.base + "/acs", data=form, follow_redirects=False)

    def good_response(self, user: User, **kw: Any) -> tuple[AuthnRequestSeen, str]:
        seen = self.begin()
        return seen, self.idp.answer(seen, user, **kw)

    def params(self, seen: AuthnRequestSeen | None, user: User, **kw: Any) -> ResponseParams:
        return ResponseParams(
            user=user,
            sp_entity_id=self.sp_entity_id,
            acs_url=self.acs_url,
            in_response_to=seen.id if seen else None,
            **kw,
        )

    # -- what the service recorded -------------------------------------------------------
    def events(self, kind: str) -> list[dict[str, Any]]:
        answer = self.http.get(
            "/api/v2/audit", params={"type": kind, "limit": 100}, headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        return list(data_of(answer)["events"])

    def failure_reasons(self) -> list[str]:
        """Reasons of the saml.login_failed entries, newest first."""
        return [str(e["detail"].get("reason")) for e in self.events("saml.login_failed")]

    def users(self) -> list[dict[str, Any]]:
        answer = self.http.get("/api/v2/users", params={"limit": 100}, headers=self.headers)
        assert answer.status_code == 200, answer.text
        return list(data_of(answer)["users"])

    def user(self, email: str) -> dict[str, Any] | None:
        return next((u for u in self.users() if u["email"] == email.lower()), None)

    def sessions_of(self, user_id: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"/api/v2/users/{user_id}/sessions", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return list(data_of(answer)["sessions"])

    def create_user(self, email: str, role: str, password: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"email": email, "role": role}
        if password:
            body["password"] = password
        answer = self.http.post("/api/v2/users", json=body, headers=self.headers)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = data_of(answer)
        return made


def session_cookie(answer: httpx.Response) -> str | None:
    for header in answer.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            value = rest.split(";", 1)[0]
            return value or None
    return None


def signed_in(http: httpx.Client) -> bool:
    """A live session: /login sends a signed-in browser straight on (303)."""
    answer = http.get("/login", params={"next": "/x"}, follow_redirects=False)
    return answer.status_code == 303 and answer.headers["location"] == "/x"
