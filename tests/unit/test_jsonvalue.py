"""The reusable check for stored free-form JSON (issue #16 finding 7), independent of how a
request body is parsed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from quantumlock.core.jsonvalue import json_value_problem
from quantumlock.licensing.schemas import GenerateIn


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"x": float("nan")}, "not finite"),
        ({"x": float("inf")}, "not finite"),
        (json.loads('{"x": 1e400}'), "not finite"),
        ({"x": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        ({"x": "a\x00b"}, "NUL"),
        (nested(33), "deeper than 32"),
        (nested(256), "deeper than 32"),
        ({"x": [[[]]] * 2, "y": "z" * (16 * 1024)}, "16 KiB"),
        ({"x": 2**63}, "64-bit"),
        ({"x": -(2**63) - 1}, "64-bit"),
        ({"x": b"bytes"}, "type bytes"),
        ({1: "x"}, "non-string key"),
    ],
)
def test_problems_are_named(value: Any, problem: str) -> None:
    found = json_value_problem(value)
    assert found is not None and problem in found
    with pytest.raises(ValidationError):
        GenerateIn.model_validate({"end_customer_id": "c", "metadata": value})


@pytest.mark.parametrize(
    "value",
    [{}, nested(32), {"a": [1, 2.5, -(2**63), 2**63 - 1, True, None, "é✓"]}, {"s": "z" * 16000}],
)
def test_storable_values_pass(value: Any) -> None:
    assert json_value_problem(value) is None
    assert GenerateIn.model_validate({"end_customer_id": "c", "metadata": value}).metadata == value


def test_a_deep_value_does_not_exhaust_the_stack() -> None:
    assert "deeper" in (json_value_problem(nested(100_000)) or "")
