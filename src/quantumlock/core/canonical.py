"""Canonical JSON: one byte string per value, for signing.

Keys sorted, no insignificant white space, UTF-8, no NaN. For the values we sign
(strings, integers, booleans, lists, objects) this matches RFC 8785.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
