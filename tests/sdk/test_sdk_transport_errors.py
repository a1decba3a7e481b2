"""Transport failures surface as the SDK's own errors (timeout, connection, decoding), never as
httpx's; and every public class shows as `qcos.X`."""

from __future__ import annotations

import pickle
import traceback

import httpx
import pytest

import qcos
from qcos import APIConnectionError, APITimeoutError, DecodingError, QCOSError
from tests.sdk.conftest import ME, Recorder, call

TIMEOUTS = [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout]
CONNECTION = [
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
]


def failing(kind: type[httpx.RequestError]) -> Recorder:
    return Recorder(kind("boom", request=httpx.Request("GET", "http://api.test")))


def garbled_gzip(request: httpx.Request) -> httpx.Response:
    # A body the response stream declares as gzip but is not: httpx fails while decoding it,
    # after the server answered (a misconfigured proxy in front of the API, say).
    return httpx.Response(
        200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all")
    )


@pytest.mark.parametrize("kind", TIMEOUTS, ids=lambda k: k.__name__)
def test_timeouts_raise_api_timeout_error(mode: str, kind: type[httpx.RequestError]) -> None:
    with pytest.raises(APITimeoutError) as info:
        call(mode, failing(kind), "me", client_kwargs={"max_retries": 0})
    err = info.value
    assert isinstance(err, APIConnectionError)  # catching connection errors still catches these
    assert err.code == "TIMEOUT" and err.status_code is None
    assert type(err.__cause__) is kind and kind.__name__ in str(err)


@pytest.mark.parametrize("kind", CONNECTION, ids=lambda k: k.__name__)
def test_other_transport_failures_raise_api_connection_error(
    mode: str, kind: type[httpx.RequestError]
) -> None:
    with pytest.raises(APIConnectionError) as info:
        call(mode, failing(kind), "me", client_kwargs={"max_retries": 0})
    assert type(info.value) is APIConnectionError and info.value.code == "CONNECTION_ERROR"
    assert type(info.value.__cause__) is kind


def test_undecodable_body_raises_decoding_error_without_retrying(
    mode: str, slept: list[float]
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return garbled_gzip(request)

    with pytest.raises(DecodingError) as info:
        call(mode, handler, "me")  # GET: idempotent, and still not retried
    err = info.value
    assert isinstance(err, APIConnectionError) and err.code == "DECODING_ERROR"
    assert isinstance(err.__cause__, httpx.DecodingError)
    assert seen == ["GET"] and slept == []


def test_a_timeout_is_retried_like_a_connection_error(mode: str, slept: list[float]) -> None:
    rec = Recorder(
        httpx.ReadTimeout("slow", request=httpx.Request("GET", "http://api.test")),
        httpx.Response(200, json={"data": ME}),
    )
    assert call(mode, rec, "me").key_id == ME["key_id"]
    assert len(rec.requests) == 2 and slept == [0.5]


def test_no_httpx_exception_escapes_a_request(mode: str) -> None:
    """Every httpx request failure, whatever its branch of httpx's tree, is a QCOSError."""
    kinds = [*TIMEOUTS, *CONNECTION, httpx.LocalProtocolError, httpx.TooManyRedirects]
    for kind in kinds:
        with pytest.raises(QCOSError) as info:
            call(mode, failing(kind), "me", client_kwargs={"max_retries": 0})
        assert not isinstance(info.value, httpx.HTTPError), kind


def test_public_classes_show_as_qcos() -> None:
    classes = [getattr(qcos, n) for n in qcos.__all__ if isinstance(getattr(qcos, n), type)]
    assert len(classes) > 20
    for cls in classes:
        assert cls.__module__ == "qcos", cls
        assert getattr(qcos, cls.__qualname__) is cls  # what pickle looks up


def test_a_traceback_names_the_public_class() -> None:
    try:
        raise qcos.RateLimitError("slow", retry_after=3, status_code=429, code="RATE")
    except QCOSError as exc:
        last = traceback.format_exception(exc)[-1]
    assert last.startswith("qcos.RateLimitError: RATE (429): slow")


@pytest.mark.parametrize("cls", [APITimeoutError, DecodingError])
def test_new_errors_survive_pickling(cls: type[APIConnectionError]) -> None:
    error = cls("ReadTimeout: slow", code="TIMEOUT")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is cls and str(copy) == str(error)


def test_models_still_pickle_under_the_public_name() -> None:
    me = qcos.Me.from_dict(ME)
    copy = pickle.loads(pickle.dumps(me))  # noqa: S301 - our own object
    assert copy == me and type(copy) is qcos.Me
