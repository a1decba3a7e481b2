"""Review of #20 (configuration): the CLI's `--metadata-url` promises 10 s. httpx's timeout is
per read, so a server dripping a byte every few seconds kept the command waiting far longer
(up to 1 MiB of reads): the 10 s must be the whole fetch's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import respx
import typer

from quantumlock.cli import sso
from tests.saml_config import material as m

URL = "https://idp.example.com/metadata"


class Drip(httpx.SyncByteStream):
    def __init__(self, body: bytes, pause: float) -> None:
        self.body, self.pause = body, pause

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.body), 200):
            time.sleep(self.pause)  # each read well within the per-read timeout
            yield self.body[i : i + 200]


@respx.mock
def test_a_slow_drip_stops_at_the_whole_fetchs_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sso, "FETCH_TIMEOUT", 0.5)
    body = m.idp_metadata().encode()  # ~1.6 KB: 9 reads of 0.1 s
    respx.get(URL).mock(return_value=httpx.Response(200, stream=Drip(body, 0.1)))
    started = time.monotonic()
    with pytest.raises(typer.Exit):
        sso.fetch_metadata(URL)
    assert time.monotonic() - started < 0.8


@respx.mock
def test_a_quick_answer_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sso, "FETCH_TIMEOUT", 5.0)
    body = m.idp_metadata().encode()
    respx.get(URL).mock(return_value=httpx.Response(200, stream=Drip(body, 0.0)))
    assert sso.fetch_metadata(URL) == body.decode()
