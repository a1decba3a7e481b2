"""Monthly license quota per plan on /metrics, computed from the database at each scrape.

The quota counters live in the shared database (license_usage), so every node reports the
same, cluster-wide figures: aggregate them across nodes with `max()`, never `sum()`. One
aggregate query per scrape, in the scrape's worker thread (quantumlock.web.system).
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.core.clock import utcnow
from quantumlock.licensing.repository import LicenseRepository
from quantumlock.licensing.service import period_of

log = structlog.get_logger(__name__)


class QuotaCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list[GaugeMetricFamily]:
        # Declared without running the query: registering must not touch the database.
        return list(self._families())

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "quantumlock_accounts",
                "Accounts by plan (cluster-wide, from the database).",
                labels=["plan"],
            ),
            GaugeMetricFamily(
                "quantumlock_license_quota_used",
                "Live licenses counted against this month's quota, by plan (cluster-wide).",
                labels=["plan"],
            ),
            GaugeMetricFamily(
                "quantumlock_license_quota_remaining",
                "Licenses left this month over the plan's accounts with a finite quota "
                "(cluster-wide).",
                labels=["plan"],
            ),
            GaugeMetricFamily(
                "quantumlock_accounts_quota_exhausted",
                "Accounts whose monthly license quota is spent, by plan (cluster-wide).",
                labels=["plan"],
            ),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = self._families()
        try:
            with self._sessions() as session:
                rows = LicenseRepository(session).quota_by_plan(period_of(utcnow()))
        except Exception:
            # /metrics keeps answering (request metrics matter most when the database
            # does not): the quota families are left out of this scrape.
            log.warning("quota_metrics_failed", exc_info=True)
            return
        for plan, accounts, used, remaining, exhausted in rows:
            for family, value in zip(families, (accounts, used, remaining, exhausted), strict=True):
                family.add_metric([plan], value)
        yield from families
