"""The hot routes served past FastAPI (quantumlock.web.fastpath) answer exactly as FastAPI does.

Two apps on one database: the default one, which serves validate, entropy, encrypt,
decrypt and /api/v2/me from the middleware, and one with QL_FAST_PATHS=false, which serves
them through their FastAPI routes. One battery of requests per route (every answer and
error it can give) goes to each app, in the same order, each app with its own fresh
rate-limit state; the answers must be the same but for request ids, timestamps and fresh
random output (entropy, IVs, ciphertexts, new key ids), which are compared by shape.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from quantumlock.accounts.service import AccountService
from quantumlock.app import create_app
from quantumlock.settings import Settings
from quantumlock.web.fastpath import FastRoutes
from tests.api.test_auth_api import create_key
from tests.api.test_licenses_api import GEN, VAL, generate
from tests.conftest import AccountFixture, MakeAccount, bearer
from tests.tokens import Issuer

Call = Callable[[TestClient], Response]
ENTROPY = "/api/v1/quantum/entropy"
ENCRYPT = "/api/v1/quantum/crypto/encrypt"
DECRYPT = "/api/v1/quantum/crypto/decrypt"
KEYS = "/api/v1/quantum/keys"


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the fast path answered."""
    calls: list[str] = []
    dispatch = FastRoutes.dispatch

    async def counting(self: FastRoutes, scope: Any, receive: Any, send: Any) -> bool:
        answered = await dispatch(self, scope, receive, send)
        if answered:
            calls.append(scope["path"])
        return answered

    monkeypatch.setattr(FastRoutes, "dispatch", counting)
    return calls


@pytest.fixture
def both(settings: Settings, fast_calls: list[str]) -> Iterator[tuple[TestClient, TestClient]]:
    fast = create_app(settings)
    slow = create_app(settings.model_copy(update={"fast_paths": False}))
    with (
        TestClient(fast, raise_server_exceptions=False) as a,
        TestClient(slow, raise_server_exceptions=False) as b,
    ):
        yield a, b


def posting(
    path: str, payload: Any, key: str | None, extra_headers: dict[str, str] | None = None
) -> Call:
    """A POST of `payload` (JSON, or raw bytes/str as they are) with `key` as a Bearer key."""
    headers = {**(bearer(key) if key else {}), **(extra_headers or {})}
    if isinstance(payload, (bytes, str)):
        return lambda c: c.post(path, content=payload, headers=headers)
    return lambda c: c.post(path, json=payload, headers=headers)


def body(license_key: str, customer: str = "customer@company.com", **extra: Any) -> dict[str, Any]:
    return {"license_key": license_key, "end_customer_id": customer, **extra}


# Fields whose values are fresh randomness (or a fresh id) on every call: compared by shape.
RANDOM_FIELDS = (
    "entropy",
    "ciphertext",
    "iv",
    "tag",
    "job_id",
    "license_key",
    "quantum_signature",
    "license_file",
    "valid_until",
    "generated_at",
)


def shape(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    charset = "hex" if re.fullmatch(r"[0-9a-f]*", value) else "other"
    return ("random", len(value), charset)


def normalised(resp: Response, known_ids: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    try:
        data: Any = resp.json()
    except ValueError:
        data = resp.text
    if isinstance(data, dict) and isinstance(data.get("data"), dict):  # /api/v2 envelopes
        limit = data["data"].get("rate_limit")
        if isinstance(limit, dict) and "reset_at" in limit:  # a timestamp in microseconds
            data["data"]["rate_limit"]["reset_at"] = shape(limit["reset_at"])
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in ("request_id", "timestamp")}
        for name in RANDOM_FIELDS:
            if name in data:
                data[name] = shape(data[name])
        if isinstance(data.get("key_id"), str) and data["key_id"] not in known_ids:
            data["key_id"] = ("new key", data["key_id"].split("_")[1])
    headers = {
        name: resp.headers.get(name)
        for name in (
            "content-type",
            "x-ratelimit-limit",
            "retry-after",
            "allow",
            "x-quota-limit",
            "x-quota-remaining",
        )
    }
    present = tuple(
        name in resp.headers
        for name in ("x-request-id", "x-ratelimit-remaining", "x-ratelimit-reset")
    )
    return resp.status_code, data, headers, present


def answer_both(
    both: tuple[TestClient, TestClient],
    calls: list[Call],
    fast_calls: list[str],
    known_ids: frozenset[str] = frozenset(),
) -> list[tuple[Any, ...]]:
    """Run the battery on the fast app, then on the framework app; the answers must match."""
    fast, slow = both
    fast_answers = []
    for call in calls:
        before = len(fast_calls)
        resp = call(fast)
        # Every request for a fast route that got past the body-size check is answered
        # by the fast path.
        route = (resp.request.method, resp.request.url.path)
        paths = fast.app.state.fast_paths  # type: ignore[attr-defined]
        expected = int(route in paths and resp.status_code != 413)
        assert len(fast_calls) - before == expected, (resp.request.method, resp.status_code)
        fast_answers.append(normalised(resp, known_ids))
    served_fast = len(fast_calls)
    slow_answers = [normalised(call(slow), known_ids) for call in calls]
    assert len(fast_calls) == served_fast, "the QL_FAST_PATHS=false app used the fast path"
    for i, (a, b) in enumerate(zip(fast_answers, slow_answers, strict=True)):
        assert a == b, f"request {i}: fast {a} != framework {b}"
    return fast_answers


def codes_of(answers: list[tuple[Any, ...]]) -> set[str]:
    return {a[1]["code"] for a in answers if isinstance(a[1], dict) and "code" in a[1]}


def battery(account: AccountFixture, make_account: MakeAccount, client: TestClient) -> list[Call]:
    """Every answer POST /validate can give, as calls to run against either app."""
    admin = account.admin_key
    live = generate(client, admin, features=["premium"])["license_key"]
    suspended = generate(client, admin)["license_key"]
    client.post(f"/api/v1/licenses/{suspended}/suspend", headers=bearer(admin))
    revoked = generate(client, admin)["license_key"]
    client.post(f"/api/v1/licenses/{revoked}/revoke", headers=bearer(admin))
    test_key = create_key(client, admin, type="test", scopes=["licenses:validate"])["key"]
    no_scope = create_key(client, admin, scopes=["account:read"])["key"]
    gone = create_key(client, admin, scopes=["licenses:validate"])
    client.delete(f"/api/v2/keys/{gone['id']}", headers=bearer(admin))
    other = make_account(name="Other Corp")
    theirs = generate(client, other.admin_key)["license_key"]
    small = make_account(plan="free", name="Small Corp")
    mine = generate(client, small.admin_key)["license_key"]

    def post(key: str | None, payload: Any, headers: dict[str, str] | None = None) -> Call:
        return posting(VAL, payload, key, headers)

    calls: list[Call] = [
        post(admin, body(live)),
        post(admin, body(live.lower())),
        post(admin, body(f"  {live}  ")),
        post(admin, body("QLOCK-0000-0000-0000")),
        post(admin, body(live, "someone@else.com")),
        post(admin, body(live, features=["premium"])),
        post(admin, body(live, features=["premium", "gold"])),
        post(admin, body(suspended)),
        post(admin, body(revoked)),
        post(admin, body(theirs)),  # another tenant's license: not found
        post(test_key, body(live)),  # test mode does not see live licenses
        post(admin, b"{not json"),
        post(admin, b""),
        post(admin, {"license_key": live}),
        post(admin, {"license_key": 5, "end_customer_id": "x"}),
        post(admin, body(live, unexpected=True)),
        post(admin, body("")),
        post(admin, body(live, features="premium")),
        post(admin, b"[1, 2]"),
        post(admin, body(live), headers={"Content-Type": "text/plain"}),
        post(None, body(live)),
        post(None, body(live), headers={"X-API-Key": admin}),
        post(None, body(live), headers={"Authorization": "Basic abc"}),
        post("qcos_live_" + "A" * 40, body(live)),
        post(no_scope, body(live)),
        post(gone["key"], body(live)),
        post(admin, b"x" * (2 * 1024 * 1024)),
        lambda c: c.get(VAL, headers=bearer(admin)),
        lambda c: c.put(VAL, json=body(live), headers=bearer(admin)),
    ]
    # The free plan's /api/v1 limit (burst 10): the 11th and 12th are refused with 429.
    calls += [post(small.admin_key, body(mine)) for _ in range(12)]
    return calls


def test_validate_answers_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    account: AccountFixture,
    make_account: Any,
    fast_calls: list[str],
) -> None:
    # Set up through a third app, so that neither app's rate-limit state is touched first.
    answers = answer_both(both, battery(account, make_account, client), fast_calls)
    assert {200, 400, 401, 403, 405, 413, 429} <= {a[0] for a in answers}
    assert {
        "VALID",
        "NOT_FOUND",
        "CUSTOMER_MISMATCH",
        "FEATURES_MISSING",
        "SUSPENDED",
        "REVOKED",
        "VALIDATION_ERROR",
        "UNAUTHORIZED",
        "KEY_REVOKED",
        "INSUFFICIENT_SCOPE",
        "RATE_LIMIT_EXCEEDED",
    } <= codes_of(answers)
    assert set(fast_calls) - {GEN} == {VAL}  # GEN: the set-up's licenses


def test_generate_answers_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    make_account: MakeAccount,
    fast_calls: list[str],
    app: FastAPI,
) -> None:
    # One account per app, each with a monthly quota of 3: the batteries run one after the
    # other, and each must reach the quota's refusal on its own.
    fast_account, slow_account = make_account(), make_account()
    with app.state.runtime.unit_of_work() as session:
        for acct in (fast_account, slow_account):
            AccountService(session).set_limits(acct.id, licenses_per_month=3)

    def calls(acct: AccountFixture) -> list[Call]:
        admin = acct.admin_key
        read_only = create_key(client, admin, scopes=["licenses:read"])["key"]
        test_key = create_key(client, admin, type="test", scopes=["licenses:write"])["key"]

        def post(payload: Any, key: str | None = admin) -> Call:
            return posting(GEN, payload, key)

        good = {"end_customer_id": "c@example.com", "features": ["a", "b", "a"]}
        return [
            post(good),
            post({**good, "valid_days": 30, "metadata": {"seat": 3}}),
            post(good, key=test_key),
            post({"end_customer_id": ""}),
            post({**good, "valid_days": 0}),
            post({**good, "features": "a"}),
            post({**good, "extra": 1}),
            post({**good, "metadata": {"k": "x" * 100_000}}),
            post(b"{"),
            post(b""),
            post(good, key=None),
            post(good, key=read_only),
            lambda c: c.get(GEN, headers=bearer(admin)),  # a license key "generate": 404
            post(good),
            post(good),  # the fourth live license of the month: refused (quota 3)
        ]

    def monthly(answer: tuple[Any, ...]) -> tuple[Any, ...]:
        """The quota's retry_after counts down to the month's end: seconds apart."""
        status, data, headers, present = answer
        if status == 429 and int(headers["retry-after"]) > 3600:
            data = {**data, "retry_after": "until next month"}
            headers = {**headers, "retry-after": "until next month"}
        return status, data, headers, present

    fast, slow = both
    fast_answers = [monthly(normalised(call(fast))) for call in calls(fast_account)]
    slow_answers = [monthly(normalised(call(slow))) for call in calls(slow_account)]
    for i, (a, b) in enumerate(zip(fast_answers, slow_answers, strict=True)):
        assert a == b, f"request {i}: fast {a} != framework {b}"
    assert {201, 400, 401, 403, 404, 429} <= {a[0] for a in fast_answers}
    assert "RATE_LIMIT_EXCEEDED" in codes_of(fast_answers)
    assert set(fast_calls) == {GEN}


def test_entropy_answers_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    account: AccountFixture,
    fast_calls: list[str],
) -> None:
    admin = account.admin_key
    no_scope = create_key(client, admin, scopes=["licenses:read"])["key"]

    def post(payload: Any, key: str | None = admin) -> Call:
        return posting(ENTROPY, payload, key)

    calls = [
        post({}),
        post({"bits": 1}),
        post({"bits": 7, "encoding": "raw"}),
        post({"bits": 4096, "encoding": "base64"}),
        post({"bits": 256, "source": "cryptographic"}),
        post({"bits": 256, "source": "qcos_api"}),  # not configured: 503
        post({"bits": 0}),
        post({"bits": 4097}),
        post({"bits": "256"}),
        post({"bits": 1.5}),
        post({"encoding": "bogus"}),
        post({"source": "nowhere"}),
        post({"bits": 8, "extra": 1}),
        post(b"{"),
        post(b""),
        post({}, key=None),
        post({}, key=no_scope),
        lambda c: c.get(ENTROPY, headers=bearer(admin)),
    ]
    answers = answer_both(both, calls, fast_calls)
    assert {200, 400, 401, 403, 405, 503} <= {a[0] for a in answers}
    assert {"QUANTUM_UNAVAILABLE", "VALIDATION_ERROR", "UNAUTHORIZED"} <= codes_of(answers)
    assert set(fast_calls) == {ENTROPY}


def test_encrypt_and_decrypt_answer_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    account: AccountFixture,
    make_account: Any,
    fast_calls: list[str],
) -> None:
    admin = account.admin_key

    def new_key(key: str, algorithm: str) -> str:
        made = client.post(KEYS, json={"algorithm": algorithm}, headers=bearer(key))
        assert made.status_code == 201, made.text
        return str(made.json()["key_id"])

    aes, chacha, ed = (new_key(admin, a) for a in ("AES-256-GCM", "ChaCha20-Poly1305", "Ed25519"))
    theirs = new_key(make_account(name="Other Corp").admin_key, "AES-256-GCM")
    no_scope = create_key(client, admin, scopes=["quantum:keys"])["key"]
    plaintext = base64.b64encode(b"attack at dawn" * 10).decode()
    sealed = client.post(
        ENCRYPT,
        json={"plaintext": plaintext, "key_id": aes, "aad": "aGVhZGVy"},
        headers=bearer(admin),
    ).json()
    opened = {k: sealed[k] for k in ("ciphertext", "key_id", "iv", "tag")}

    def post(path: str, payload: Any, key: str | None = admin) -> Call:
        return posting(path, payload, key)

    huge = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    calls = [
        post(ENCRYPT, {"plaintext": plaintext, "key_id": aes}),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": aes}),  # now from the key cache
        post(ENCRYPT, {"plaintext": plaintext, "key_id": chacha, "aad": "aGVhZGVy"}),
        post(ENCRYPT, {"plaintext": plaintext}),  # creates a key
        post(ENCRYPT, {"plaintext": plaintext, "algorithm": "ChaCha20-Poly1305"}),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": aes, "algorithm": "ChaCha20-Poly1305"}),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": ed}),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": theirs}),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": "key_quantum_nope"}),
        post(ENCRYPT, {"plaintext": "not base64!", "key_id": aes}),
        post(ENCRYPT, {"plaintext": huge, "key_id": aes}),
        post(ENCRYPT, {"key_id": aes}),
        post(ENCRYPT, b"{]"),
        post(ENCRYPT, b"x" * (3 * 1024 * 1024)),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": aes}, key=no_scope),
        post(ENCRYPT, {"plaintext": plaintext, "key_id": aes}, key=None),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy"}),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy"}),  # now from the key cache
        post(DECRYPT, opened),  # no AAD: fails like a wrong tag
        post(DECRYPT, {**opened, "aad": "aGVhZGVy", "tag": base64.b64encode(bytes(16)).decode()}),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy", "iv": base64.b64encode(bytes(8)).decode()}),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy", "key_id": theirs}),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy", "key_id": ed}),
        post(DECRYPT, {**opened, "aad": "aGVhZGVy", "algorithm": "ChaCha20-Poly1305"}),
        post(DECRYPT, {"ciphertext": opened["ciphertext"]}),
        lambda c: c.get(DECRYPT, headers=bearer(admin)),
    ]
    known = frozenset({aes, chacha, ed, theirs})
    answers = answer_both(both, calls, fast_calls, known)
    assert {200, 400, 401, 403, 404, 405, 413} <= {a[0] for a in answers}
    assert {"DECRYPTION_FAILED", "VALIDATION_ERROR", "NOT_FOUND"} <= codes_of(answers)
    assert answers[16][1]["plaintext"] == plaintext
    assert set(fast_calls) == {ENCRYPT, DECRYPT}


def test_the_fast_route_is_documented_and_labelled_like_the_framework_route(
    both: tuple[TestClient, TestClient], account: AccountFixture
) -> None:
    fast, slow = both
    lic = generate(fast, account.admin_key)["license_key"]
    assert fast.post(VAL, json=body(lic), headers=bearer(account.admin_key)).status_code == 200
    spec = fast.get("/openapi.json").json()
    assert spec == slow.get("/openapi.json").json()
    operation = spec["paths"][VAL]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    metrics = fast.get("/metrics").text
    assert f'route="{VAL}",status="200"' in metrics
    assert GEN in metrics


def test_settings_switch_the_fast_path_off(settings: Settings) -> None:
    assert Settings().fast_paths is True
    app: FastAPI = create_app(settings.model_copy(update={"fast_paths": False}))
    with TestClient(app) as client:
        assert client.post(VAL, json=body("QLOCK-0000-0000-0000")).status_code == 401


ME = "/api/v2/me"


def test_me_answers_alike(
    both: tuple[TestClient, TestClient],
    client: TestClient,
    account: AccountFixture,
    fast_calls: list[str],
) -> None:
    admin = account.admin_key
    test_key = create_key(client, admin, type="test", scopes=["licenses:validate"])
    narrow = create_key(client, admin, scopes=["account:read"], expires_in="30d")
    gone = create_key(client, admin, scopes=["licenses:validate"])
    client.delete(f"/api/v2/keys/{gone['id']}", headers=bearer(admin))

    def get(key: str | None, headers: dict[str, str] | None = None) -> Call:
        return lambda c: c.get(ME, headers={**(bearer(key) if key else {}), **(headers or {})})

    calls: list[Call] = [
        get(admin),
        get(test_key["key"]),
        get(narrow["key"]),
        get(gone["key"]),
        get(None),
        get(None, {"X-API-Key": admin}),
        get(None, {"Authorization": "Basic abc"}),
        get("qcos_live_" + "A" * 40),
        get(admin[:-1]),
        lambda c: c.post(ME, headers=bearer(admin)),
    ]
    # Test-mode keys have a burst of 50: the last few are refused with 429.
    calls += [get(test_key["key"]) for _ in range(52)]
    known = frozenset(k["id"] for k in (test_key, narrow, gone))
    answers = answer_both(both, calls, fast_calls, known_ids=known)
    assert {200, 401, 405, 429} <= {a[0] for a in answers}
    assert {"UNAUTHORIZED", "KEY_REVOKED", "RATE_LIMIT_EXCEEDED"} <= codes_of(answers)
    assert set(fast_calls) == {ME}


def test_me_answers_alike_for_access_tokens(
    both: tuple[TestClient, TestClient],
    account: AccountFixture,
    fast_calls: list[str],
) -> None:
    """OAuth access tokens (#19): the same answers fast and through FastAPI, refusals too."""
    runtime = both[0].app.state.runtime  # type: ignore[attr-defined]
    issuer = Issuer(runtime.sessions, runtime.sealer)
    live, claims = issuer.service_token(account.id, scopes=["licenses:read"])
    test = issuer.service_token(account.id, mode="test")[0]
    client_id = issuer.oauth_client(account.id)
    user = issuer.user(account.id, role="member")
    of_user = issuer.mint(account.id, client_id, user_id=user, scopes=["admin"])[0]
    revoked, gone = issuer.service_token(account.id)
    issuer.revoke_token(gone)
    expired = issuer.mint(account.id, claims.client_id, now=int(time.time()) - 3600)[0]
    forged = live[:-6] + ("AAAAAA" if not live.endswith("AAAAAA") else "BBBBBB")

    def get(token: str) -> Call:
        return lambda c: c.get(ME, headers=bearer(token))

    calls: list[Call] = [get(t) for t in (live, test, of_user, revoked, expired, forged)]
    calls.append(lambda c: c.get(ME, headers={"X-API-Key": live}))
    calls += [get(test) for _ in range(50)]
    answers = answer_both(both, calls, fast_calls)
    assert [a[0] for a in answers[:7]] == [200, 200, 200, 401, 401, 401, 200]
    assert answers[0][1]["data"]["subject"]["kind"] == "service_account"
    assert answers[2][1]["data"]["subject"]["kind"] == "user"
    assert 429 in {a[0] for a in answers}
    assert set(fast_calls) == {ME}


def _raised_on_a_route() -> dict[type, list[Callable[[], Exception]]]:
    """For each exception type the app has a handler for, instances a route may raise."""
    from fastapi import Response
    from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
    from sqlalchemy.exc import DataError
    from starlette.exceptions import HTTPException

    from quantumlock.core import errors
    from quantumlock.portal.core import NeedsSignIn, PortalError
    from quantumlock.web.idempotency import IdempotentReplay

    invalid = [{"loc": ("body", "license_key"), "msg": "bad", "type": "value_error"}]
    return {
        errors.AppError: [
            lambda: errors.Conflict("Taken."),
            lambda: errors.RateLimited("Slow down.", retry_after=7),
            lambda: errors.QuantumUnavailable("No source."),
        ],
        RequestValidationError: [lambda: RequestValidationError(invalid)],
        # FastAPI's own handler for it closes a websocket: on HTTP both ways end as a 500.
        WebSocketRequestValidationError: [lambda: WebSocketRequestValidationError(invalid)],
        HTTPException: [
            lambda: HTTPException(404, "Gone."),
            lambda: HTTPException(418, headers={"Retry-After": "3"}),
        ],
        DataError: [lambda: DataError("SELECT 1", {}, ValueError("out of range"))],
        # The portal's pages (quantumlock.portal): an error page, the way to sign in.
        PortalError: [lambda: PortalError(403, "Not allowed", "No.")],
        NeedsSignIn: [lambda: NeedsSignIn("/portal")],
        # An Idempotency-Key's stored answer, replayed (quantumlock.web.idempotency).
        IdempotentReplay: [
            lambda: IdempotentReplay(
                Response(b'{"replayed": true}', status_code=201, media_type="application/json")
            )
        ],
    }


def test_every_exception_handler_renders_alike_on_the_fast_path(
    both: tuple[TestClient, TestClient],
    account: AccountFixture,
    fast_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a fast route raises is answered by the handler the app would use, for every
    handler the app has (a new handler without a case here fails this test); what none
    handles is the middleware's 500 both ways."""
    from quantumlock.licensing.validation import LicenseValidator

    samples = _raised_on_a_route()
    handled = {key for key in both[0].app.exception_handlers if isinstance(key, type)}  # type: ignore[attr-defined]
    assert handled == set(samples), "add a differential case for each handled exception"
    raising: list[Callable[[], Exception]] = [
        make for makes in samples.values() for make in makes
    ] + [lambda: RuntimeError("a bug")]
    current: list[Callable[[], Exception]] = []

    async def raise_current(*_args: Any, **_kwargs: Any) -> Any:
        raise current[0]()

    monkeypatch.setattr(LicenseValidator, "validate", raise_current)
    headers = bearer(account.admin_key)
    payload = body("QLOCK-0000-0000-0000")

    def call(c: TestClient) -> Response:
        # Not following redirects: NeedsSignIn's 303 is compared as it is.
        answer: Response = c.post(VAL, json=payload, headers=headers, follow_redirects=False)
        return answer

    fast, slow = both
    statuses = set()
    for make in raising:
        current[:] = [make]
        before = len(fast_calls)
        answer = normalised(call(fast))
        # Rendered by a handler: answered here; a 500 left the fast path as an exception.
        assert len(fast_calls) - before == (answer[0] != 500)
        assert answer == normalised(call(slow)), make()
        statuses.add(answer[0])
    assert statuses == {201, 303, 400, 403, 404, 409, 418, 429, 500, 503}
