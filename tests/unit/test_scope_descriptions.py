"""Every scope is described and offered in exactly one area (forms list scopes by area)."""

from __future__ import annotations

from quantumlock.auth.scopes import AREAS, DESCRIPTIONS, Scope


def test_every_scope_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(Scope)
    assert all(text.strip().endswith(".") for text in DESCRIPTIONS.values())


def test_every_scope_is_in_exactly_one_area() -> None:
    listed = [scope for _, scopes in AREAS for scope in scopes]
    assert sorted(listed) == sorted(Scope)
    assert len({name for name, _ in AREAS}) == len(AREAS)
