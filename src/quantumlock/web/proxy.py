"""The client's address behind proxies: the right-most hop in X-Forwarded-For that is not
one of our own trusted proxies.

Each proxy appends the address it received the request from, so only the entries on the
right, written by proxies we trust, can be believed; everything to the left of the first
untrusted entry was written by the client itself and is ignored. Uvicorn's own proxy
middleware does this for a list of trusted peers, but with `*` it takes the left-most entry,
which any client chooses freely (and so escapes the per-address brute-force guard). Here
`*` means "trust whichever peer connects, for one hop": the client is the last entry, the
one that peer wrote. That is still only safe when every path to the service goes through a
proxy, so `serve` warns about it at start-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger(__name__)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = frozenset({"http", "https"})


class TrustedProxies:
    """`QL_FORWARDED_ALLOW_IPS`: a comma list of addresses, CIDRs or literal names, or `*`."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.any = "*" in items
        self._networks: list[_Network] = []
        self._literals: set[str] = set()
        for item in items:
            if item == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._literals.add(item)  # e.g. a unix socket path, as uvicorn allows

    def __contains__(self, host: str) -> bool:
        if self.any:
            return True
        if host in self._literals:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client_of(self, peer: str, forwarded_for: Iterable[str]) -> str:
        """The client address, given the connecting peer and the X-Forwarded-For headers."""
        if peer not in self:
            return peer  # an untrusted peer's headers say nothing
        hops = [_host_of(hop) for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        if not hops:
            return peer
        if self.any:
            return hops[-1]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0]  # every hop is one of our proxies: the first one is the origin


def _host_of(hop: str) -> str:
    """`1.2.3.4`, `1.2.3.4:567`, `[::1]:80` or `::1` -> the address without a port."""
    hop = hop.strip()
    if hop.startswith("["):
        end = hop.find("]")
        return hop[1:end] if end > 0 else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


class ForwardedClientMiddleware:
    """Sets `scope["client"]` (and the scheme) from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)
        if self.trusted.any:
            log.warning(
                "forwarded_allow_ips_wildcard",
                detail=(
                    "QL_FORWARDED_ALLOW_IPS='*' believes X-Forwarded-For from any peer: a "
                    "client that reaches the service directly chooses its own address. List "
                    "the load balancers' addresses or CIDRs instead."
                ),
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = str(client[0]) if client else ""
            if peer and peer in self.trusted:
                forwarded: list[str] = []
                proto: str | None = None
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded.append(value.decode("latin-1"))
                    elif name == b"x-forwarded-proto":
                        proto = value.decode("latin-1").strip().lower()
                if forwarded:
                    scope["client"] = (self.trusted.client_of(peer, forwarded), 0)
                if proto in _SCHEMES and scope["type"] == "http":
                    scope["scheme"] = proto
        await self.app(scope, receive, send)
