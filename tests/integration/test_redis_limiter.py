"""The Redis GCRA backend against a real Redis (127.0.0.1:6379; required on CI)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.bootstrap import api_key_hasher
from quantumlock.observability.metrics import Metrics
from quantumlock.ratelimit import Decision, GcraLimiter
from quantumlock.ratelimit.base import RateLimit, bucket_id
from quantumlock.ratelimit.redis_backend import RedisLimiter
from quantumlock.settings import Settings
from tests.conftest import MASTER_KEY, bearer

REDIS_URL = os.environ.get("QL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def need_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("Redis must be reachable on CI (127.0.0.1:6379).")
        pytest.skip("Redis not reachable on 127.0.0.1:6379")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    need_redis()
    value = f"qltest:{uuid.uuid4().hex[:12]}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.delete(*keys)


def with_nodes(prefix: str, scenario: Callable[[list[RedisLimiter]], Awaitable[None]]) -> None:
    """Run `scenario` with three limiters on one Redis and prefix: three nodes."""

    async def run() -> None:
        nodes = [RedisLimiter(REDIS_URL, prefix=prefix, metrics=Metrics()) for _ in range(3)]
        try:
            await scenario(nodes)
        finally:
            for node in nodes:
                await node.close()

    asyncio.run(run())


def test_burst_is_exact_under_concurrency_across_nodes(prefix: str) -> None:
    async def scenario(limiters: list[RedisLimiter]) -> None:
        # One request per minute refills nothing during the test: exactly the burst gets in.
        limit = RateLimit(per_minute=1, burst=100)
        decisions = await asyncio.gather(
            *(limiters[i % 3].hit("acct:live", limit) for i in range(600))
        )
        assert sum(d.allowed for d in decisions) == 100
        refused = [d for d in decisions if not d.allowed]
        assert len(refused) == 500
        assert all(d.remaining == 0 and 0 < d.retry_after <= 60 for d in refused)

    with_nodes(prefix, scenario)


def test_decisions_match_the_in_process_limiter(prefix: str) -> None:
    async def scenario(limiters: list[RedisLimiter]) -> None:
        limit = RateLimit(per_minute=60, burst=5)
        memory = GcraLimiter()
        shared = limiters[0]
        for _ in range(5):
            mine, theirs = await shared.hit("k", limit), await memory.hit("k", limit)
            assert (mine.allowed, mine.limit, mine.remaining) == (
                theirs.allowed,
                theirs.limit,
                theirs.remaining,
            )
            assert abs(mine.reset_at - theirs.reset_at) < 0.5
        mine, theirs = await shared.hit("k", limit), await memory.hit("k", limit)
        assert not mine.allowed and not theirs.allowed
        assert abs(mine.retry_after - theirs.retry_after) < 0.5
        assert 0.5 < mine.retry_after <= 1.0

    with_nodes(prefix, scenario)


def test_peek_does_not_consume(prefix: str) -> None:
    async def scenario(limiters: list[RedisLimiter]) -> None:
        limit = RateLimit(per_minute=1, burst=2)
        first = await limiters[0].peek("p", limit)
        assert first.allowed and first.remaining == 2
        assert (await limiters[1].hit("p", limit)).remaining == 1
        assert (await limiters[2].peek("p", limit)).remaining == 1
        assert (await limiters[0].hit("p", limit)).remaining == 0
        assert not (await limiters[1].hit("p", limit)).allowed

    with_nodes(prefix, scenario)


def test_admit_matches_the_in_process_limiter(prefix: str) -> None:
    """An account's bucket and a key's share in one script: the same decisions as
    GcraLimiter.admit, on any node; a request refused by one bucket consumes none."""

    async def scenario(limiters: list[RedisLimiter]) -> None:
        account = RateLimit(per_minute=1, burst=4)
        share = RateLimit(per_minute=1, burst=2)
        memory = GcraLimiter()

        async def both(node: RedisLimiter, key: str) -> Decision:
            buckets = (("acct", account), (key, share))
            mine, theirs = await node.admit(buckets), await memory.admit(buckets)
            assert (mine.allowed, mine.limit, mine.remaining) == (
                theirs.allowed,
                theirs.limit,
                theirs.remaining,
            )
            assert abs(mine.retry_after - theirs.retry_after) < 0.5
            return mine

        for i in range(6):  # 2 admitted, then the key's share refuses: 4 times
            assert (await both(limiters[i % 3], "shipped")).allowed == (i < 2)
        assert (await limiters[0].peek("acct", account)).remaining == 2
        assert (await both(limiters[1], "admin")).allowed
        assert (await both(limiters[2], "admin")).allowed
        refused = await both(limiters[0], "third")  # the account's ceiling holds
        assert not refused.allowed and refused.limit == 4 and 0 < refused.retry_after <= 60
        assert (await limiters[1].peek("third", share)).remaining == 2

    with_nodes(prefix, scenario)


def test_a_changed_limit_starts_from_its_full_burst(prefix: str) -> None:
    """Issue #16 finding 17, on Redis: a drained bucket does not carry over to a new limit."""

    async def scenario(limiters: list[RedisLimiter]) -> None:
        old = RateLimit(per_minute=60, burst=100)
        new = RateLimit(per_minute=100_000, burst=100_000)
        decisions = [await limiters[i % 3].admit((("acct", old),)) for i in range(101)]
        assert sum(d.allowed for d in decisions) == 100
        for node in limiters:
            raised = await node.admit((("acct", new),))
            assert raised.allowed and raised.remaining >= new.burst - 3

    with_nodes(prefix, scenario)


def test_bucket_keys_expire_when_full_again(prefix: str) -> None:
    async def scenario(limiters: list[RedisLimiter]) -> None:
        limit = RateLimit(per_minute=600, burst=10)  # 100 ms per request
        for _ in range(3):
            await limiters[0].hit("ttl", limit)
        ttl_ms = redis.Redis.from_url(REDIS_URL).pttl(prefix + bucket_id("ttl", limit))
        assert 0 < ttl_ms <= 300
        assert (await limiters[0].peek("untouched", limit)).remaining == 10
        untouched = prefix + bucket_id("untouched", limit)
        assert redis.Redis.from_url(REDIS_URL).exists(untouched) == 0

    with_nodes(prefix, scenario)


def test_unreachable_redis_fails_open_and_is_counted() -> None:
    metrics = Metrics()

    async def scenario() -> list[Decision]:
        limiter = RedisLimiter("redis://127.0.0.1:1/0", metrics=metrics, timeout=0.2)
        try:
            limit = RateLimit(per_minute=1, burst=1)
            return [await limiter.hit("x", limit) for _ in range(5)]
        finally:
            await limiter.close()

    decisions = asyncio.run(scenario())
    assert all(d.allowed for d in decisions)
    errors = metrics.registry.get_sample_value(
        "quantumlock_redis_errors_total", {"operation": "ratelimit"}
    )
    failed_open = metrics.registry.get_sample_value(
        "quantumlock_limiter_decisions_total", {"backend": "redis", "result": "failed_open"}
    )
    # One connection attempt; the next calls within the back-off do not ask Redis again.
    assert errors == 1
    assert failed_open == 5


def test_two_app_instances_share_one_limit_through_redis(
    database_url: str, tmp_path: Path, prefix: str
) -> None:
    """Two app instances (two nodes) on one database and one Redis admit the burst once."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        master_key=MASTER_KEY,
        redis_url=REDIS_URL,
        redis_prefix=prefix,
    )
    node_a, node_b = create_app(settings), create_app(settings)
    with TestClient(node_a) as a, TestClient(node_b) as b:
        with node_a.state.runtime.unit_of_work() as session:
            service = AccountService(session)
            created = service.create(
                name="Shared", email="ops@shared.example", plan="enterprise",
                hasher=api_key_hasher(settings),
            )  # fmt: skip
            service.set_limits(created.account.id, requests_per_minute=1, burst=10)
        headers = bearer(created.admin_key.secret)
        statuses = [(a if i % 2 else b).get("/api/v2/me", headers=headers) for i in range(30)]
    assert [r.status_code for r in statuses].count(200) == 10
    refused = [r for r in statuses if r.status_code == 429]
    assert len(refused) == 20
    assert refused[0].json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].headers["X-RateLimit-Remaining"] == "0"
    assert statuses[0].headers["X-RateLimit-Limit"] == "10"


def test_a_raised_limit_applies_on_every_node_within_a_second(
    database_url: str, tmp_path: Path, prefix: str
) -> None:
    """Issue #16 finding 17 through two app nodes sharing Redis: a drained account whose
    limit is raised is served again by both nodes within a second."""
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
        redis_url=REDIS_URL, redis_prefix=prefix,
    )  # fmt: skip
    node_a, node_b = create_app(settings), create_app(settings)
    with TestClient(node_a) as a, TestClient(node_b) as b:
        with node_a.state.runtime.unit_of_work() as session:
            service = AccountService(session)
            created = service.create(
                name="Raised", email="ops@raised.example", plan="startup",
                hasher=api_key_hasher(settings),
            )  # fmt: skip
            service.set_limits(created.account.id, requests_per_minute=60, burst=100)
        admin = bearer(created.admin_key.secret)
        other = a.post(
            "/api/v2/keys", headers=admin, json={"name": "o", "scopes": ["account:read"]}
        )
        keys = [admin, bearer(other.json()["data"]["key"])]
        for i in range(130):  # both keys' shares, across both nodes: the account is drained
            (a if i % 2 else b).get("/api/v1/customers/me", headers=keys[i % 2])
        assert all(
            node.get("/api/v1/customers/me", headers=key).status_code == 429
            for node in (a, b)
            for key in keys
        )
        with node_a.state.runtime.unit_of_work() as session:
            AccountService(session).set_limits(
                created.account.id, requests_per_minute=100_000, burst=100_000
            )
        started = time.monotonic()
        for node in (a, b):
            while node.get("/api/v1/customers/me", headers=keys[1]).status_code != 200:
                assert time.monotonic() - started < 1.0, "a node still refuses after 1 s"
                time.sleep(0.02)


def test_health_reports_redis_and_stays_ready_without_it(
    database_url: str, tmp_path: Path, prefix: str
) -> None:
    def health(redis_url: str) -> tuple[int, dict[str, str]]:
        settings = Settings(
            data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
            redis_url=redis_url, redis_prefix=prefix,
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            resp = client.get("/health/ready")
            return resp.status_code, resp.json()

    status, body = health(REDIS_URL)
    assert status == 200
    assert (body["status"], body["redis"], body["database"]) == ("ok", "ok", "ok")
    status, body = health("redis://127.0.0.1:1/0")
    assert status == 200
    assert (body["status"], body["redis"], body["database"]) == ("degraded", "unreachable", "ok")


def test_a_revocation_reaches_another_node_by_redis_before_its_next_poll(
    database_url: str, tmp_path: Path, prefix: str
) -> None:
    """Node B polls the change feed only every 5 s; the Redis nudge makes it see at once."""
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, master_key=MASTER_KEY,
        redis_url=REDIS_URL, redis_prefix=prefix, change_poll_interval=5,
    )  # fmt: skip
    node_a, node_b = create_app(settings), create_app(settings)
    with TestClient(node_a) as a, TestClient(node_b) as b:
        with node_a.state.runtime.unit_of_work() as session:
            created = AccountService(session).create(
                name="Nudged", email="ops@nudged.example", plan="business",
                hasher=api_key_hasher(settings),
            )  # fmt: skip
        admin = bearer(created.admin_key.secret)
        made = a.post("/api/v2/keys", headers=admin, json={"name": "victim"}).json()["data"]
        victim = bearer(made["key"])
        time.sleep(0.3)  # both nodes' subscriptions are up
        assert b.get("/api/v2/me", headers=victim).status_code == 200  # cached on B now
        assert a.delete(f"/api/v2/keys/{made['id']}", headers=admin).status_code == 204
        started = time.monotonic()
        while b.get("/api/v2/me", headers=victim).status_code == 200:
            assert time.monotonic() - started < 2, "B still accepts the revoked key"
            time.sleep(0.01)
        assert time.monotonic() - started < 1
        assert b.get("/api/v2/me", headers=victim).json()["code"] == "KEY_REVOKED"
