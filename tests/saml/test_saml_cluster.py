"""Replay across nodes: two `quantumlock serve` processes on one PostgreSQL database behind
one public URL (QL_ISSUER), as behind a load balancer. An assertion consumed on one node is
refused on the other (the assertion ids live in the shared database, not in a node)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY, fresh_postgres_database
from tests.e2e.conftest import Server, free_port, init_and_serve, isolated_env, serve, stop_server
from tests.saml.idp import KeyPair, TestIdp, User
from tests.saml.support import SamlFlow, session_cookie, unique_email

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("saml-cluster")]


@dataclass
class TwoNodes:
    a: Server
    b: Server
    public: str


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    tmp = tmp_path_factory.mktemp("saml-cluster")
    with fresh_postgres_database("ql_saml") as database_url:
        public = f"http://127.0.0.1:{free_port()}"  # the load balancer's address
        env = {
            **{k: v for k, v in isolated_env(tmp).items() if not k.startswith("QL_")},
            "QL_DATA_DIR": str(tmp / "data"),
            "QL_MASTER_KEY": MASTER_KEY,
            "QL_DATABASE_URL": database_url,
            "QL_ISSUER": public,
        }
        a = init_and_serve(tmp, env)
        try:
            b = serve(tmp, env)
            try:
                yield TwoNodes(a, b, public)
            finally:
                stop_server(b)
        finally:
            stop_server(a)


def test_assertion_consumed_on_one_node_is_refused_on_the_other(
    nodes: TwoNodes, tmp_path: Path, idp_keys: KeyPair
) -> None:
    name = "saml-" + unique_email().split("@")[0]
    created = nodes.a.cli_json(
        "accounts", "create", "--name", name, "--email", f"{name}@example.com",
        "--plan", "enterprise",
    )  # fmt: skip
    assert isinstance(created, dict)
    idp = TestIdp(tmp_path / "idp", keys=idp_keys)
    with (
        httpx.Client(base_url=nodes.a.base_url, timeout=10) as on_a,
        httpx.Client(base_url=nodes.b.base_url, timeout=10) as on_b,
    ):
        flow_a = SamlFlow(on_a, idp, str(created["id"]), str(created["api_key"]))
        flow_a.configure(allow_idp_initiated=True)
        assert flow_a.acs_url.startswith(nodes.public)  # both nodes' SP is the public one
        flow_b = SamlFlow(on_b, idp, flow_a.account_id, flow_a.admin_key, flow_a.connection)

        # IdP-initiated: nothing but the assertion id stops a replay.
        user = User(unique_email())
        unsolicited = idp.response(flow_a.params(None, user))
        first = flow_a.post(unsolicited)
        assert first.status_code == 303, (first.text[:800], flow_a.failure_reasons())
        assert session_cookie(first)
        replayed = flow_b.post(unsolicited)
        assert replayed.status_code == 400 and session_cookie(replayed) is None
        assert flow_b.failure_reasons()[0] == "replay"

        # SP-initiated: begun on A, consumed on B (the request is shared too), replayed on A.
        other = User(unique_email())
        seen = flow_a.begin("/here")
        xml = idp.answer(seen, other)
        on_b_answer = flow_b.post(xml, relay_state=seen.relay_state)
        assert on_b_answer.status_code == 303, (on_b_answer.text[:800], flow_b.failure_reasons())
        assert on_b_answer.headers["location"] == "/here"
        on_a.cookies.clear()
        again = flow_a.post(xml, relay_state=seen.relay_state)
        assert again.status_code == 400 and session_cookie(again) is None
        assert flow_a.failure_reasons()[0] == "replay"


def test_one_response_posted_at_once_to_both_nodes_signs_in_once(
    nodes: TwoNodes, tmp_path: Path, idp_keys: KeyPair
) -> None:
    """The request is spent and the assertion id stored with conditional writes: of four
    simultaneous posts (two per node), exactly one starts a session."""
    name = "saml-" + unique_email().split("@")[0]
    created = nodes.a.cli_json(
        "accounts", "create", "--name", name, "--email", f"{name}@example.com",
        "--plan", "enterprise",
    )  # fmt: skip
    assert isinstance(created, dict)
    idp = TestIdp(tmp_path / "idp", keys=idp_keys)
    with httpx.Client(base_url=nodes.a.base_url, timeout=10) as admin:
        flow = SamlFlow(admin, idp, str(created["id"]), str(created["api_key"]))
        flow.configure()
        for round_ in range(3):
            user = User(unique_email())
            seen = flow.begin()
            xml = idp.answer(seen, user)
            barrier = threading.Barrier(4)

            def post(base: str, xml: str = xml, barrier: threading.Barrier = barrier) -> int:
                with httpx.Client(base_url=base, timeout=20) as browser:
                    barrier.wait()
                    return flow.post(xml, http=browser).status_code

            bases = [nodes.a.base_url, nodes.b.base_url] * 2
            with ThreadPoolExecutor(4) as pool:
                statuses = sorted(pool.map(post, bases))
            assert statuses == [303, 400, 400, 400], (round_, statuses)
            made = flow.user(user.email)
            assert made is not None and len(flow.sessions_of(made["id"])) == 1
