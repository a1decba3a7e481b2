"""/api/v1/quantum/health and /entropy through the app, with the fake QCOS service as qcos_api.

Stuck and biased remote output must fail the health tests, be reported in /quantum/health,
and the service must fall back; a forced unhealthy source is 503.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantumlock.app import create_app
from quantumlock.entropy.sources import qiskit_installed
from quantumlock.settings import Settings
from tests.api.test_auth_api import assert_error, create_key
from tests.conftest import AccountFixture, bearer
from tests.fakes.qcos_entropy import FAKE_KEY, FakeQcos, running_fake_qcos

HEALTH = "/api/v1/quantum/health"
ENTROPY = "/api/v1/quantum/entropy"
DEFAULT_SOURCE = "qiskit_local" if qiskit_installed() else "cryptographic"
DEFAULT_LEVEL = "QUANTUM_SIMULATED" if qiskit_installed() else "CRYPTOGRAPHIC"


@pytest.fixture
def fake_qcos() -> Iterator[FakeQcos]:
    with running_fake_qcos() as fake:
        yield fake


@pytest.fixture
def qcos_client(settings: Settings, fake_qcos: FakeQcos) -> Iterator[TestClient]:
    """An app whose first source is the fake QCOS service (same database as `account`)."""
    configured = Settings(
        **{
            **settings.model_dump(),
            "qcos_api_url": fake_qcos.url,
            "qcos_api_key": FAKE_KEY,
            "entropy_sources": "qcos_api,cryptographic",
            # The fake speaks plain http: its claims count only by the operator's word.
            "qcos_api_trust_claims": True,
        }
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def untrusted_qcos_client(settings: Settings, fake_qcos: FakeQcos) -> Iterator[TestClient]:
    """The fake QCOS service with no pinned key and no attestation (the review's stand-in)."""
    configured = Settings(
        **{
            **settings.model_dump(),
            "qcos_api_url": fake_qcos.url,
            "qcos_api_key": FAKE_KEY,
            "entropy_sources": "qcos_api,cryptographic",
        }
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client


def entropy(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    resp = client.post(ENTROPY, json=body, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def decoded(body: dict[str, Any]) -> bytes:
    if body["encoding"] == "hex":
        return bytes.fromhex(body["entropy"])
    if body["encoding"] == "base64":
        return base64.b64decode(body["entropy"], validate=True)
    bits = body["entropy"]
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


def test_entropy_matches_the_reference_shape(client: TestClient, account: AccountFixture) -> None:
    body = entropy(client, account.admin_key, bits=256, encoding="hex", source=None)
    assert set(body) == {
        "entropy",
        "bits",
        "encoding",
        "source",
        "qubits",
        "fidelity",
        "quantum_verified",
        "security_level",
        "timestamp",
        "job_id",
    }
    assert len(body["entropy"]) == 64 and bytes.fromhex(body["entropy"])
    assert (body["bits"], body["encoding"]) == (256, "hex")
    # Honest: no URL for qcos_api, so the simulator (if installed) or the OS CSPRNG.
    assert (body["source"], body["security_level"]) == (DEFAULT_SOURCE, DEFAULT_LEVEL)
    assert body["quantum_verified"] is False and body["fidelity"] is None
    assert body["qubits"] == (16 if qiskit_installed() else None)
    assert body["job_id"].startswith("job_") and body["timestamp"].endswith("Z")
    assert entropy(client, account.admin_key)["entropy"] != body["entropy"]  # defaults: 256 hex


@pytest.mark.parametrize("encoding", ["hex", "base64", "raw"])
@pytest.mark.parametrize("bits", [1, 7, 77, 256, 4096])
def test_encodings_and_odd_bit_counts(
    client: TestClient, account: AccountFixture, encoding: str, bits: int
) -> None:
    body = entropy(client, account.admin_key, bits=bits, encoding=encoding)
    assert body["bits"] == bits and body["encoding"] == encoding
    data = decoded(body)
    assert len(data) == -(-bits // 8)
    spare = len(data) * 8 - bits
    assert data[-1] & ((1 << spare) - 1) == 0  # unused low-order bits are zero
    if encoding == "raw":
        assert len(body["entropy"]) == bits and set(body["entropy"]) <= {"0", "1"}


def test_raw_bits_are_balanced(client: TestClient, account: AccountFixture) -> None:
    text = "".join(
        entropy(client, account.admin_key, bits=4096, encoding="raw")["entropy"] for _ in range(8)
    )
    ones = text.count("1")
    assert abs(ones - len(text) / 2) < 6 * (len(text) / 4) ** 0.5  # 6 sigma


@pytest.mark.parametrize(
    "body",
    [
        {"bits": 0},
        {"bits": 4097},
        {"bits": -8},
        {"bits": "256"},
        {"bits": 25.5},
        {"bits": True},
        {"encoding": "binary"},
        {"source": "quantum_magic"},
        {"source": 1},
        {"surprise": 1},
    ],
)
def test_bad_input_is_400(
    client: TestClient, account: AccountFixture, body: dict[str, Any]
) -> None:
    assert_error(
        client.post(ENTROPY, json=body, headers=bearer(account.admin_key)), 400, "VALIDATION_ERROR"
    )


def test_not_json_is_400(client: TestClient, account: AccountFixture) -> None:
    resp = client.post(
        ENTROPY,
        content=b"bits=256",
        headers={**bearer(account.admin_key), "content-type": "application/json"},
    )
    assert_error(resp, 400, "VALIDATION_ERROR")


def test_scope_and_auth(client: TestClient, account: AccountFixture) -> None:
    assert_error(client.post(ENTROPY, json={}), 401, "UNAUTHORIZED")
    assert_error(client.get(HEALTH), 401, "UNAUTHORIZED")
    other = create_key(client, account.admin_key, scopes=["licenses:read"])["key"]
    assert_error(client.post(ENTROPY, json={}, headers=bearer(other)), 403, "INSUFFICIENT_SCOPE")
    assert_error(client.get(HEALTH, headers=bearer(other)), 403, "INSUFFICIENT_SCOPE")
    scoped = create_key(client, account.admin_key, scopes=["quantum:entropy"])["key"]
    assert entropy(client, scoped, bits=8)["bits"] == 8
    assert client.get(HEALTH, headers=bearer(scoped)).status_code == 200


def test_forced_unavailable_source_is_503(client: TestClient, account: AccountFixture) -> None:
    body = assert_error(
        client.post(ENTROPY, json={"source": "qcos_api"}, headers=bearer(account.admin_key)),
        503,
        "QUANTUM_UNAVAILABLE",
    )
    assert "QL_QCOS_API_URL is not set" in body["detail"]
    forced = entropy(client, account.admin_key, source="cryptographic")
    assert (forced["source"], forced["security_level"]) == ("cryptographic", "CRYPTOGRAPHIC")
    assert forced["qubits"] is None and forced["fidelity"] is None


def test_health_matches_the_contract(client: TestClient, account: AccountFixture) -> None:
    resp = client.get(HEALTH, headers=bearer(account.admin_key))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {
        "available",
        "backends",
        "qcos_api",
        "qiskit_local",
        "cryptographic",
        "test_result",
    }
    assert body["available"] is True
    assert body["backends"] == (
        ["qiskit_local", "cryptographic"] if qiskit_installed() else ["cryptographic"]
    )
    assert body["qcos_api"] == {
        "available": False,
        "healthy": False,
        "url": None,
        "latency_ms": None,
        "reason": "QL_QCOS_API_URL is not set",
    }
    qiskit = body["qiskit_local"]
    assert qiskit["simulator"] == "aer_simulator"
    if qiskit_installed():
        assert qiskit == {
            "available": True,
            "healthy": True,
            "simulator": "aer_simulator",
            "qubits": 16,
            "reason": None,
        }
    else:
        assert qiskit["available"] is False and "not installed" in qiskit["reason"]
    assert body["cryptographic"] == {"available": True, "healthy": True, "reason": None}
    test = body["test_result"]
    assert test["bits"] == 64 and len(bytes.fromhex(test["entropy"])) == 8
    assert (test["source"], test["security_level"]) == (DEFAULT_SOURCE, DEFAULT_LEVEL)
    assert test["quantum_verified"] is False


def test_hardware_qcos_is_quantum_verified_and_licenses_say_so(
    qcos_client: TestClient, account: AccountFixture, fake_qcos: FakeQcos
) -> None:
    key = account.admin_key
    body = entropy(qcos_client, key, bits=512)
    assert (body["source"], body["security_level"]) == ("qcos_api", "QUANTUM_SECURED")
    assert body["quantum_verified"] is True
    assert (body["fidelity"], body["qubits"]) == (0.9987, 127)
    assert body["job_id"].startswith("job_qcos_")
    health = qcos_client.get(HEALTH, headers=bearer(key))
    data = health.json()
    assert data["backends"] == ["qcos_api", "cryptographic"]
    assert data["qcos_api"]["available"] and data["qcos_api"]["healthy"]
    assert data["qcos_api"]["url"] == fake_qcos.url
    assert isinstance(data["qcos_api"]["latency_ms"], int)
    assert data["qiskit_local"]["reason"] == "not enabled (QL_ENTROPY_SOURCES)"
    assert data["test_result"]["source"] == "qcos_api"
    assert data["test_result"]["quantum_verified"] is True
    assert FAKE_KEY not in health.text
    lic = qcos_client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c@x.example"}, headers=bearer(key)
    )
    assert lic.status_code == 201, lic.text
    assert lic.json()["quantum_verified"] is True
    assert lic.json()["security_level"] == "QUANTUM_SECURED"
    assert lic.json()["qcos_fidelity"] == 0.9987
    # The remote stops claiming hardware: new licenses stop claiming it too.
    fake_qcos.hardware = False
    lic = qcos_client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c@x.example"}, headers=bearer(key)
    )
    assert lic.json()["quantum_verified"] is False
    assert lic.json()["security_level"] == "CRYPTOGRAPHIC"
    assert lic.json()["qcos_fidelity"] is None


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("stuck", "repetition count test failed"), ("biased", "adaptive proportion test failed")],
)
def test_unhealthy_qcos_is_skipped_and_reported(
    qcos_client: TestClient, account: AccountFixture, fake_qcos: FakeQcos, mode: str, reason: str
) -> None:
    key = account.admin_key
    assert entropy(qcos_client, key, bits=64)["source"] == "qcos_api"
    fake_qcos.mode = mode
    # 4096 bits = 1024 raw bytes = 8 APT windows: a 90/10 bias passes all with ~1e-8.
    body = entropy(qcos_client, key, bits=4096)
    assert (body["source"], body["security_level"]) == ("cryptographic", "CRYPTOGRAPHIC")
    assert body["quantum_verified"] is False and body["fidelity"] is None
    health = qcos_client.get(HEALTH, headers=bearer(key)).json()
    assert health["backends"] == ["cryptographic"]
    # Reachable, but its bits failed the tests: it cannot deliver now.
    assert health["qcos_api"]["available"] is False
    assert health["qcos_api"]["healthy"] is False
    assert health["qcos_api"]["reason"] == reason
    assert health["test_result"]["source"] == "cryptographic"
    calls = fake_qcos.calls
    err = assert_error(
        qcos_client.post(ENTROPY, json={"source": "qcos_api"}, headers=bearer(key)),
        503,
        "QUANTUM_UNAVAILABLE",
    )
    assert reason in err["detail"]
    assert fake_qcos.calls == calls  # left alone until its back-off ends
    lic = qcos_client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c@x.example"}, headers=bearer(key)
    )
    assert lic.status_code == 201 and lic.json()["security_level"] == "CRYPTOGRAPHIC"


def test_failing_qcos_opens_the_breaker(
    qcos_client: TestClient, account: AccountFixture, fake_qcos: FakeQcos
) -> None:
    key = account.admin_key
    fake_qcos.mode = "fail"
    for _ in range(3):
        assert entropy(qcos_client, key, bits=8)["source"] == "cryptographic"
    health = qcos_client.get(HEALTH, headers=bearer(key)).json()
    assert health["qcos_api"]["available"] is False
    assert health["qcos_api"]["reason"].startswith(
        "circuit breaker open after 3 consecutive failures (last: HTTP 500)"
    )
    assert health["backends"] == ["cryptographic"]


def test_metrics_count_draws_and_health_failures(
    qcos_client: TestClient, account: AccountFixture, fake_qcos: FakeQcos
) -> None:
    entropy(qcos_client, account.admin_key, bits=8)
    fake_qcos.mode = "stuck"
    entropy(qcos_client, account.admin_key, bits=8)
    text = qcos_client.get("/metrics").text
    assert 'quantumlock_entropy_draws_total{source="qcos_api"} 1.0' in text
    assert 'quantumlock_entropy_draws_total{source="cryptographic"} 1.0' in text
    assert (
        'quantumlock_entropy_health_failures_total{source="qcos_api",test="repetition count"} 1.0'
        in text
    )


def test_unproven_remote_claims_are_not_reported(
    untrusted_qcos_client: TestClient, account: AccountFixture, fake_qcos: FakeQcos
) -> None:
    """#16 finding 13: a plain-http remote saying `quantum_verified: true` is not believed,
    in entropy, keystore keys or licenses; it is what it can be shown to be."""
    key = account.admin_key
    body = entropy(untrusted_qcos_client, key, bits=256)
    assert body["source"] == "qcos_api" and fake_qcos.calls > 0
    assert body["security_level"] == "CRYPTOGRAPHIC" and body["quantum_verified"] is False
    assert body["fidelity"] is None and body["qubits"] is None
    made = untrusted_qcos_client.post(
        "/api/v1/quantum/keys", json={"algorithm": "AES-256-GCM"}, headers=bearer(key)
    )
    assert made.status_code == 201, made.text
    assert (made.json()["security_level"], made.json()["quantum_verified"]) == (
        "CRYPTOGRAPHIC",
        False,
    )
    lic = untrusted_qcos_client.post(
        "/api/v1/licenses/generate", json={"end_customer_id": "c@x.example"}, headers=bearer(key)
    )
    assert lic.status_code == 201, lic.text
    assert lic.json()["security_level"] == "CRYPTOGRAPHIC"
    assert lic.json()["quantum_verified"] is False and lic.json()["qcos_fidelity"] is None


def test_unreachable_remote_is_not_available(settings: Settings, account: AccountFixture) -> None:
    """#16 finding 18: `available` is "can deliver now"; the reason stays."""
    configured = Settings(
        **{
            **settings.model_dump(),
            "qcos_api_url": "http://127.0.0.1:9",  # discard port: connection refused
            "entropy_sources": "qcos_api,cryptographic",
        }
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        body = client.get(HEALTH, headers=bearer(account.admin_key)).json()
    assert body["qcos_api"]["available"] is False
    assert body["qcos_api"]["healthy"] is False
    assert body["qcos_api"]["reason"].startswith("unreachable")
    assert body["backends"] == ["cryptographic"] and body["available"] is True
