"""The SAML tests need xmlsec1 (pysaml2 signs with it); without it they skip, saying so,
except on CI (`CI` set), where `make test` installs it and its absence must fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AccountFixture
from tests.saml.idp import KeyPair, TestIdp, make_key_pair, xmlsec1_available
from tests.saml.support import SamlFlow

NO_XMLSEC1 = (
    "/usr/bin/xmlsec1 is absent: the pysaml2 test IdP signs with it "
    "(apt-get install xmlsec1, as `make test` does)"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if xmlsec1_available() or os.environ.get("CI"):
        return
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.skip(reason=NO_XMLSEC1))


@pytest.fixture(scope="session")
def idp_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The IdP's key pair, made once per worker (RSA generation is the slow part)."""
    return make_key_pair(tmp_path_factory.mktemp("idp-keys"), "QuantumLock test IdP")


@pytest.fixture(scope="session")
def stranger_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A key pair no account trusts (same IdP name, another key)."""
    return make_key_pair(tmp_path_factory.mktemp("stranger-keys"), "QuantumLock test IdP")


@pytest.fixture
def idp(tmp_path: Path, idp_keys: KeyPair) -> TestIdp:
    return TestIdp(tmp_path / "idp", keys=idp_keys)


@pytest.fixture
def flow(client: TestClient, account: AccountFixture, idp: TestIdp) -> SamlFlow:
    """An account with a connection to `idp` (configured through the API), in-process."""
    made = SamlFlow(client, idp, account.id, account.admin_key)
    made.configure()
    return made
