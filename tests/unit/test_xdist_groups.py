"""`--dist loadgroup` really groups: a test marked xdist_group carries its group in the node
id the scheduler sees (tests/conftest.py), so a group's tests share one worker."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("group-probe")
def test_a_grouped_test_names_its_group(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):  # set by xdist's workers
        pytest.skip("only meaningful under pytest-xdist --dist loadgroup (make test)")
    assert request.node.nodeid.endswith("@group-probe")
