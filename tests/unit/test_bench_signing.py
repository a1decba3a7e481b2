"""The bench's raw-signing baseline runs the service's own signing code: it must keep working
when that code changes (it is not type-checked with src, and broke once on a rename)."""

from __future__ import annotations

from bench.signing import measure


def test_the_raw_signing_baseline_signs_licenses() -> None:
    result = measure(0.2)
    assert result["licenses"] > 0 and result["licenses_per_s"] > 0
