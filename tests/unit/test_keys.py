from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantumlock.auth.keys import (
    KEY_LENGTH,
    KeyType,
    display_prefix,
    generate_key,
    key_type_of,
)
from quantumlock.core.ids import BASE62
from quantumlock.keyring.hasher import KeyHasher


@pytest.mark.parametrize(
    ("key_type", "prefix"),
    [
        (KeyType.LIVE, "qcos_live_"),
        (KeyType.TEST, "qcos_test_"),
        (KeyType.RESTRICTED, "qcos_rkey_"),
    ],
)
def test_generated_keys_have_prefix_length_and_valid_checksum(
    key_type: KeyType, prefix: str
) -> None:
    key = generate_key(key_type)
    assert key.startswith(prefix)
    assert len(key) == KEY_LENGTH == len(prefix) + 32 + 6
    assert all(c in BASE62 for c in key[len(prefix) :])
    assert key_type_of(key) is key_type


def test_keys_are_unique() -> None:
    assert len({generate_key(KeyType.LIVE) for _ in range(2000)}) == 2000


@given(st.data())
def test_any_single_character_typo_is_rejected_without_lookup(data: st.DataObject) -> None:
    key = generate_key(KeyType.LIVE)
    position = data.draw(st.integers(min_value=10, max_value=len(key) - 1))
    # An offset rather than a filtered choice: the key is random (not drawn by hypothesis),
    # and a filter's number of draws would depend on it, which hypothesis reports as flaky.
    offset = data.draw(st.integers(min_value=1, max_value=len(BASE62) - 1))
    replacement = BASE62[(BASE62.index(key[position]) + offset) % len(BASE62)]
    typo = key[:position] + replacement + key[position + 1 :]
    assert key_type_of(typo) is None


@pytest.mark.parametrize(
    "bad",
    ["", "qcos_live_", "qcos_nope_" + "A" * 38, "sk_live_" + "A" * 40, "qcos_live_" + "!" * 38],
)
def test_malformed_keys_are_rejected(bad: str) -> None:
    assert key_type_of(bad) is None


def test_display_prefix_never_reveals_the_secret() -> None:
    key = generate_key(KeyType.TEST)
    shown = display_prefix(key)
    assert shown.startswith("qcos_test_") and shown.endswith("...")
    assert len(shown.rstrip(".")) == 14  # the type prefix and 4 characters of 38


def test_hasher_is_keyed_by_the_master_key() -> None:
    key = generate_key(KeyType.LIVE)
    a, b = KeyHasher(b"a" * 32), KeyHasher(b"b" * 32)
    assert a.digest(key) == KeyHasher(b"a" * 32).digest(key)
    assert a.digest(key) != b.digest(key)
    assert len(a.digest(key)) == 32
    assert key.encode() not in a.digest(key)


def test_base62_alphabet() -> None:
    assert set(BASE62) == set(string.digits + string.ascii_letters)
