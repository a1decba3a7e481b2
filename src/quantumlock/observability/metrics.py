from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """One registry per app, so tests and several apps in one process do not collide."""

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label lookups cost more than the increments; keep the children per label set.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def validated(self, code: str) -> None:
        child = self._validation_children.get(code)
        if child is None:  # a closed set of codes: the children stay few
            child = self._validation_children[code] = self.validations.labels(code)
        child.inc()

    def __init__(self) -> None:
        self._validation_children: dict[str, Any] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "quantumlock_http_requests_total",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "quantumlock_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "quantumlock_rate_limited_total",
            "Requests refused with 429, by limit family.",
            ["family"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "quantumlock_auth_failures_total",
            "Failed authentications by error code.",
            ["code"],
            registry=self.registry,
        )
        self.key_cache = Counter(
            "quantumlock_key_cache_total",
            "API-key cache lookups by result.",
            ["result"],
            registry=self.registry,
        )
        self.limiter_decisions = Counter(
            "quantumlock_limiter_decisions_total",
            "Shared (Redis) rate-limit decisions by result: allowed, refused, failed_open.",
            ["backend", "result"],
            registry=self.registry,
        )
        self.redis_errors = Counter(
            "quantumlock_redis_errors_total",
            "Redis errors by operation (ratelimit, pubsub).",
            ["operation"],
            registry=self.registry,
        )
        self.validation_cache = Counter(
            "quantumlock_validation_cache_total",
            "License validation cache lookups by result.",
            ["result"],
            registry=self.registry,
        )
        self.validations = Counter(
            "quantumlock_license_validations_total",
            "Online license validations by result code (VALID, EXPIRED, REVOKED, ...).",
            ["code"],
            registry=self.registry,
        )
        self.licenses_issued = Counter(
            "quantumlock_licenses_issued_total",
            "Licenses generated, by the account's plan and the key's mode.",
            ["plan", "mode"],
            registry=self.registry,
        )
        self.quota_refusals = Counter(
            "quantumlock_license_quota_refusals_total",
            "License generations refused because the monthly quota was spent, by plan.",
            ["plan"],
            registry=self.registry,
        )
        self.validation_cache_hit = self.validation_cache.labels("hit")
        self.validation_cache_miss = self.validation_cache.labels("miss")
        self.key_cache_hit = self.key_cache.labels("hit")
        self.key_cache_miss = self.key_cache.labels("miss")
