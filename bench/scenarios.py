"""The scenario registry: what each benchmark sends, and how to prepare for it.

A scenario is one request, repeated by wrk. Scenarios that need data first (a license to
validate, a key to encrypt with) get it from `setup`, which runs once, against the live
server, before the warm-up; whatever it returns overrides the static request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.seed import Sample

ROUTE_NOT_AVAILABLE = "route not available"


class RouteNotAvailable(RuntimeError):
    """The server has no such route (yet): the scenario is skipped, and that is no failure."""


def missing_route(status: int, body: str) -> bool:
    """Whether an answer says the route does not exist, rather than that the request failed.

    405 is a path served for other methods only; 404 counts only with the router's own
    "no such route" detail (the server's error handler words it "No route METHOD /path."),
    not a 404 about a missing object (e.g. an unknown key id).
    """
    if status == 405:
        return True
    if status != 404:
        return False
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, str) and (detail == "Not Found" or detail.startswith("No route "))


@dataclass(frozen=True)
class SetupContext:
    api_key: str
    base_url: str
    data_dir: Path
    account_id: str
    # Seeded licenses that validate (active, unexpired), spread over the table.
    samples: Sequence[Sample] = ()


@dataclass(frozen=True)
class Prepared:
    """What setup adds to a scenario; None keeps the scenario's own value."""

    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    path: str | None = None
    # Several bodies: wrk sends them in turn (one request each), and the pre-flight tries all.
    bodies: Sequence[str] = ()


@dataclass(frozen=True)
class Scenario:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # Sent verbatim as wrk.body; JSON bodies also need a Content-Type in headers.
    body: str | None = None
    # Adds `Authorization: Bearer <key>` with the benchmark account's admin key.
    auth: bool = True
    expect_status: int = 200
    # The pre-flight also wants these top-level fields in the JSON answer ...
    expect_json: Mapping[str, Any] = field(default_factory=dict)
    # ... and wrk counts every 2xx answer whose body lacks this text as a mismatch.
    expect_text: str | None = None
    setup: Callable[[SetupContext], Prepared] | None = None
    # Measured once per table size of --licenses (rows `name@1k`, `name@1m`, ...), each
    # after seeding the account up to that many licenses.
    per_table_size: bool = False
    # Adds licenses while measured: runs after the per-size scenarios, on the largest table.
    writes_licenses: bool = False
    # Targets from the issue, checked in the report: the rps ratio to the baseline (at
    # least), p99 in ms (at most), and p99 at the largest table size over p99 at the
    # smallest (at most).
    target_ratio: float | None = None
    max_p99_ms: float | None = None
    max_p99_growth: float | None = None
    # Also measured against the raw signing rate (bench/signing.py), in the same rounds: the
    # rps over licenses signed per second by one core with no HTTP and no database (at least).
    target_signing_ratio: float | None = None


@dataclass(frozen=True)
class Request:
    """A scenario made concrete: everything wrk and the pre-flight check need."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_status: int = 200
    bodies: Sequence[str] = ()
    expect_json: Mapping[str, Any] = field(default_factory=dict)
    expect_text: str | None = None

    def all_bodies(self) -> list[str | None]:
        return list(self.bodies) if self.bodies else [self.body]


def prepare(scenario: Scenario, ctx: SetupContext | None) -> Request:
    headers = dict(scenario.headers)
    if scenario.auth:
        if ctx is None:
            raise ValueError("an authenticated scenario needs a setup context")
        headers["Authorization"] = f"Bearer {ctx.api_key}"
    body, path = scenario.body, scenario.path
    bodies: tuple[str, ...] = ()
    if scenario.setup is not None:
        if ctx is None:
            raise ValueError("a scenario with setup needs a setup context")
        extra = scenario.setup(ctx)
        headers.update(extra.headers)
        body = extra.body if extra.body is not None else body
        path = extra.path if extra.path is not None else path
        bodies = tuple(extra.bodies)
    return Request(
        scenario.method,
        path,
        headers,
        body,
        scenario.expect_status,
        bodies,
        scenario.expect_json,
        scenario.expect_text,
    )


JSON = {"Content-Type": "application/json"}


def _validate_setup(ctx: SetupContext) -> Prepared:
    if not ctx.samples:
        raise ValueError("no seeded licenses to validate")
    bodies = [
        json.dumps({"license_key": s.license_key, "end_customer_id": s.end_customer_id})
        for s in ctx.samples
    ]
    return Prepared(bodies=bodies)


GENERATE_BODY = json.dumps(
    {
        "end_customer_id": "bench-generate",
        "features": ["core", "reporting"],
        "valid_days": 365,
        "metadata": {"source": "bench.run"},
    }
)


ENTROPY_BODY = json.dumps({"bits": 256})

# 1 KiB of plaintext, base64 on the wire as the contract (docs/quantum-api.md) wants.
ENCRYPT_PLAINTEXT = base64.b64encode(bytes(range(256)) * 4).decode()
ENCRYPT_ALGORITHM = "AES-256-GCM"


def _encrypt_setup(ctx: SetupContext) -> Prepared:
    """A key made once in setup (POST /api/v1/quantum/keys), so each request only encrypts."""
    path = "/api/v1/quantum/keys"
    with httpx.Client(base_url=ctx.base_url, timeout=30.0) as client:
        response = client.post(
            path,
            json={"algorithm": ENCRYPT_ALGORITHM},
            headers={"Authorization": f"Bearer {ctx.api_key}"},
        )
    if missing_route(response.status_code, response.text):
        raise RouteNotAvailable(f"POST {path}")
    if response.status_code != 201:
        raise ValueError(f"POST {path} answered {response.status_code}: {response.text[:200]}")
    key_id = response.json()["key_id"]
    body = {"plaintext": ENCRYPT_PLAINTEXT, "key_id": key_id, "algorithm": ENCRYPT_ALGORITHM}
    return Prepared(body=json.dumps(body))


def _token_setup(ctx: SetupContext) -> Prepared:
    """A service account's access token (client_credentials) in place of the API key."""
    admin = {"Authorization": f"Bearer {ctx.api_key}"}
    made = httpx.post(
        ctx.base_url + "/api/v2/service-accounts",
        headers=admin,
        json={"name": "bench-me-token", "scopes": ["account:read"]},
        timeout=30,
    )
    if missing_route(made.status_code, made.text):
        raise RouteNotAvailable(ROUTE_NOT_AVAILABLE)
    if made.status_code != 201:
        raise ValueError(f"service account: {made.status_code}: {made.text[:200]}")
    data = made.json()["data"]
    token = httpx.post(
        ctx.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(data["client_id"], data["client_secret"]),
        timeout=30,
    )
    if token.status_code != 200:
        raise ValueError(f"token: {token.status_code}: {token.text[:200]}")
    # Lives 15 minutes: longer than a run's rounds of this scenario.
    return Prepared(headers={"Authorization": f"Bearer {token.json()['access_token']}"})


BASELINE = Scenario("GET", "/hello", auth=False)

SCENARIOS: dict[str, Scenario] = {
    "me": Scenario("GET", "/api/v2/me"),
    # The same with a service account's OAuth access token (signature check, cached state).
    "me-token": Scenario("GET", "/api/v2/me", setup=_token_setup),
    # Full online validation of seeded licenses (lookup, HMAC-SHA3-512 check, status,
    # expiry), a different license per request, in turn over samples spread over the table.
    "validate": Scenario(
        "POST",
        "/api/v1/licenses/validate",
        headers=JSON,
        expect_json={"valid": True, "code": "VALID"},
        expect_text='"code":"VALID"',
        setup=_validate_setup,
        per_table_size=True,
        target_ratio=0.6,
        max_p99_ms=25.0,
        max_p99_growth=1.2,
    ),
    # Consumes quota: the bench account is enterprise (unlimited licenses per month).
    "generate": Scenario(
        "POST",
        "/api/v1/licenses/generate",
        headers=JSON,
        body=GENERATE_BODY,
        expect_status=201,
        expect_text='"license_key":"QLOCK-',
        writes_licenses=True,
        # Issue 17: >= 0.6 x the raw signing rate, p99 <= 250 ms (1 worker, 64 connections).
        target_signing_ratio=0.6,
        max_p99_ms=250.0,
    ),
    # Issue 5's quantum API (skipped as "route not available" on a server without it).
    "entropy": Scenario(
        "POST",
        "/api/v1/quantum/entropy",
        headers=JSON,
        body=ENTROPY_BODY,
        expect_json={"bits": 256},
        expect_text='"entropy":"',
    ),
    # AES-256-GCM over 1 KiB with a stored key: key lookup, unsealing, a fresh IV, encryption.
    "encrypt": Scenario(
        "POST",
        "/api/v1/quantum/crypto/encrypt",
        headers=JSON,
        expect_json={"algorithm": ENCRYPT_ALGORITHM},
        expect_text='"ciphertext":"',
        setup=_encrypt_setup,
    ),
}
