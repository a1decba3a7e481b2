"""Checks for free-form JSON a caller stores (license metadata and the like).

Python's `json` accepts NaN, Infinity, `1e400` (read as infinity), lone surrogates and any
depth; none of them survives every later step (canonical JSON for signing, UTF-8, the
response encoder's depth limit), so a value that passed the edge once could fail every read
after. `json_value_problem` walks the value without recursion (a deep value cannot exhaust
the stack) and names the first thing wrong with it.
"""

from __future__ import annotations

import math
from typing import Any

from quantumlock.core.canonical import canonical_json

MAX_DEPTH = 32
MAX_BYTES = 16 * 1024
# The response encoder (and most JSON parsers) hold integers in 64 bits.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    return None


def json_value_problem(
    value: Any, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES
) -> str | None:
    """None if `value` is storable JSON, else why not. The top-level object or array is
    depth 1; `max_bytes` bounds its canonical UTF-8 encoding."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return "has a non-string key"
                    problem = _text_problem(key)
                    if problem:
                        return f"a key {problem}"
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return f"a string {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                return "has an integer outside the 64-bit range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "has a number that is not finite (NaN, Infinity or out of range)"
        else:
            return f"has a value of type {type(item).__name__}, not JSON"
    if len(canonical_json(value)) > max_bytes:
        return f"is larger than {max_bytes // 1024} KiB of JSON"
    return None
