"""The scenario registry: what each benchmark sends, and how to prepare for it.

A scenario is one request, repeated by wrk. Scenarios that need data first (a license to
validate, a key to encrypt with) get it from `setup`, which runs once, against the live
server, before the warm-up; whatever it returns overrides the static request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SetupContext:
    api_key: str
    base_url: str
    data_dir: Path


@dataclass(frozen=True)
class Prepared:
    """What setup adds to a scenario; None keeps the scenario's own value."""

    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    path: str | None = None


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
    setup: Callable[[SetupContext], Prepared] | None = None


@dataclass(frozen=True)
class Request:
    """A scenario made concrete: everything wrk and the pre-flight check need."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    expect_status: int = 200


def prepare(scenario: Scenario, ctx: SetupContext | None) -> Request:
    headers = dict(scenario.headers)
    if scenario.auth:
        if ctx is None:
            raise ValueError("an authenticated scenario needs a setup context")
        headers["Authorization"] = f"Bearer {ctx.api_key}"
    body, path = scenario.body, scenario.path
    if scenario.setup is not None:
        if ctx is None:
            raise ValueError("a scenario with setup needs a setup context")
        extra = scenario.setup(ctx)
        headers.update(extra.headers)
        body = extra.body if extra.body is not None else body
        path = extra.path if extra.path is not None else path
    return Request(scenario.method, path, headers, body, scenario.expect_status)


BASELINE = Scenario("GET", "/hello", auth=False)

SCENARIOS: dict[str, Scenario] = {
    "me": Scenario("GET", "/api/v2/me"),
}
