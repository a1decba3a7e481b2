"""Review of #19: a node's start-up key ensure (background) and its first token request
(SigningKeys.material, which ensures too when keys are missing) raced: both made an ES256
and an RS256 key, leaving two active keys per algorithm (and tests/oauth's JWKS test flaky).
Within one node they must take turns."""

from __future__ import annotations

import threading
from collections import Counter

from fastapi import FastAPI
from sqlalchemy import select

from quantumlock.identity.models import OAuthSigningKey
from quantumlock.identity.oauth.keys import SigningKeys


def test_concurrent_ensure_and_first_load_make_one_key_per_algorithm(app: FastAPI) -> None:
    runtime = app.state.runtime  # lifespan not started: no background ensure ran
    keys = SigningKeys(runtime.sessions, runtime.sealer)
    start = threading.Barrier(6)

    def ensure() -> None:
        start.wait()
        keys.ensure()

    def load() -> None:
        start.wait()
        keys.material()

    threads = [threading.Thread(target=f) for f in (ensure, load) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with runtime.unit_of_work() as session:
        rows = session.scalars(select(OAuthSigningKey).where(OAuthSigningKey.status == "active"))
        active = Counter(row.alg for row in rows)
    assert active == {"ES256": 1, "RS256": 1}


def test_two_nodes_making_the_first_keys_at_once_leave_one_active_key_per_algorithm(
    app: FastAPI,
) -> None:
    """Two nodes (each its own SigningKeys, so no shared lock) starting on a new database:
    the database itself allows one active key per algorithm (oauth_signing_keys.active_for);
    the node that loses the race reloads what the other made."""
    runtime = app.state.runtime
    nodes = [SigningKeys(runtime.sessions, runtime.sealer) for _ in range(4)]
    start = threading.Barrier(len(nodes))

    def boot(node: SigningKeys) -> None:
        start.wait()
        node.material()

    threads = [threading.Thread(target=boot, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with runtime.unit_of_work() as session:
        rows = session.scalars(select(OAuthSigningKey).where(OAuthSigningKey.status == "active"))
        active = Counter(row.alg for row in rows)
    assert active == {"ES256": 1, "RS256": 1}
    kids = {node.material().active["ES256"].kid for node in nodes}
    assert len(kids) == 1  # every node signs with the one active key
