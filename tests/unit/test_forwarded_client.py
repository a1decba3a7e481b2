"""The client address behind proxies: the right-most untrusted X-Forwarded-For hop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quantumlock.web.proxy import ForwardedClientMiddleware, TrustedProxies

LB = "10.0.0.5"


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # An untrusted peer's header is ignored, whatever it says.
        ("10.0.0.0/8", "198.51.100.9", ["1.2.3.4"], "198.51.100.9"),
        # One trusted load balancer: the hop it appended.
        ("10.0.0.0/8", LB, ["203.0.113.7"], "203.0.113.7"),
        # The client wrote its own entries on the left: they are never believed.
        ("10.0.0.0/8", LB, ["6.6.6.6, 7.7.7.7, 203.0.113.7"], "203.0.113.7"),
        # Two trusted proxies in a row (also in two header lines): skip both.
        ("10.0.0.0/8", LB, ["6.6.6.6, 203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        ("10.0.0.0/8", LB, ["6.6.6.6, 203.0.113.7", "10.0.0.9"], "203.0.113.7"),
        # Ports and IPv6 forms.
        ("10.0.0.0/8,fd00::/8", LB, ["[2001:db8::1]:4711, fd00::2"], "2001:db8::1"),
        ("10.0.0.5", LB, ["203.0.113.7:5555"], "203.0.113.7"),
        # Every hop is ours: the left-most is the origin.
        ("10.0.0.0/8", LB, ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
        # No header: the peer itself.
        ("10.0.0.0/8", LB, [], LB),
        # "*": trust whichever peer connects, for one hop only.
        ("*", "198.51.100.9", ["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
        ("*", "198.51.100.9", ["6.6.6.6", "203.0.113.8"], "203.0.113.8"),
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(
    trusted: str, peer: str, forwarded: list[str], client: str
) -> None:
    assert TrustedProxies(trusted).client_of(peer, forwarded) == client


def run(middleware_trusted: str, peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {"type": "http", "client": (peer, 1234), "scheme": "http", "headers": headers}
    asyncio.run(ForwardedClientMiddleware(app, middleware_trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen


def test_the_middleware_sets_client_and_scheme_only_for_trusted_peers() -> None:
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7"), (b"x-forwarded-proto", b"https")]
    trusted = run("10.0.0.0/8", LB, headers)
    assert trusted["client"][0] == "203.0.113.7" and trusted["scheme"] == "https"
    untrusted = run("10.0.0.0/8", "198.51.100.9", headers)
    assert untrusted["client"][0] == "198.51.100.9" and untrusted["scheme"] == "http"
    assert run("*", "198.51.100.9", headers)["client"][0] == "203.0.113.7"


def test_a_wildcard_warns_at_start_up(capsys: pytest.CaptureFixture[str]) -> None:
    from quantumlock.observability.logging import configure_logging

    configure_logging("INFO")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    ForwardedClientMiddleware(app, "10.0.0.0/8")
    assert "forwarded_allow_ips_wildcard" not in capsys.readouterr().out
    ForwardedClientMiddleware(app, "*")
    assert "forwarded_allow_ips_wildcard" in capsys.readouterr().out
