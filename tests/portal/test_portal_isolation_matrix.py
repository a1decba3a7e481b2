"""Another account's object is a 404 page on every portal route that names one (the cases
are in tests/portal/matrix_*.py), and no such route is left out."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.settings import Settings
from tests.conftest import MakeAccount
from tests.portal import matrix
from tests.portal.support import portal_user


def all_cases() -> list[matrix.Case]:
    cases: list[matrix.Case] = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("matrix_"):
            cases.extend(importlib.import_module(f"tests.portal.{module.name}").CASES)
    return cases


CASES = all_cases()


def test_every_portal_route_with_a_parameter_has_a_case(settings: Settings) -> None:
    app = create_app(settings)
    try:
        everything = matrix.portal_routes(app)
        routes = {(method, path) for method, path in everything if "{" in path}
    finally:
        app.state.runtime.engine.dispose()
    assert ("GET", "/portal") in everything  # the listing itself works
    covered = {(case.method, case.path) for case in CASES}
    assert routes - matrix.NOT_OBJECTS <= covered, sorted(routes - matrix.NOT_OBJECTS - covered)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path}" for c in CASES])
def test_another_accounts_object_is_404(
    case: matrix.Case, app: FastAPI, client: TestClient, make_account: MakeAccount
) -> None:
    mine = make_account(name="Mine")
    theirs = make_account(name="Theirs")
    params = case.make(app, theirs)
    path = case.path.format(**params)
    owner = portal_user(app, mine, "owner")
    if case.method == "GET":
        answer = owner.client.get(path, follow_redirects=False)
    else:
        answer = owner.post(path, case.form or {})
    assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
    assert "text/html" in answer.headers["content-type"]
