"""The CLI's metadata fetch (`--metadata-url`): https only (redirects too), at most 1 MiB,
a non-200 refused; the server itself never fetches a URL."""

from __future__ import annotations

import httpx
import pytest
import respx
import typer

from quantumlock.cli.sso import MAX_METADATA_BYTES, fetch_metadata
from tests.saml_config import material as m

URL = "https://idp.example.com/metadata"


@respx.mock
def test_fetches_https_metadata() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, text=m.idp_metadata()))
    assert fetch_metadata(URL) == m.idp_metadata()


def test_refuses_plain_http() -> None:
    with pytest.raises(typer.Exit) as exited:
        fetch_metadata("http://idp.example.com/metadata")
    assert exited.value.exit_code == 2


@respx.mock
def test_refuses_a_redirect_to_http() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(302, headers={"Location": "http://idp.example.com/md"})
    )
    plain = respx.get("http://idp.example.com/md").mock(return_value=httpx.Response(200))
    with pytest.raises(typer.Exit):
        fetch_metadata(URL)
    assert not plain.called


@respx.mock
def test_refuses_more_than_a_mebibyte_and_errors() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, content=b"x" * (MAX_METADATA_BYTES + 1)))
    with pytest.raises(typer.Exit):
        fetch_metadata(URL)
    respx.get(URL).mock(return_value=httpx.Response(404))
    with pytest.raises(typer.Exit):
        fetch_metadata(URL)
