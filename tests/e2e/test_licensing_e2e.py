"""Licensing end to end through the real server, the SDK-free HTTP API and the CLI."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qcos.licensing import verify_license_file
from quantumlock.db.engine import make_engine
from quantumlock.licensing.models import License
from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_account(server: Server, plan: str = "startup") -> dict[str, str]:
    created = server.cli_json(
        "accounts", "create", "--name", "Vendor", "--email", "v@example.com", "--plan", plan
    )
    assert isinstance(created, dict)
    return created


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def lic_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    tmp = tmp_path_factory.mktemp("lic")
    srv = start_server(tmp, url)
    srv.database_url = url or f"sqlite:///{tmp / 'data' / 'quantumlock.db'}"  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        if srv.process.poll() is None:
            stop_server(srv)


def test_license_lifecycle_and_offline_file(lic_server: Server, tmp_path: Path) -> None:
    server = lic_server
    admin = new_account(server)["api_key"]
    with server.client() as http:
        gen = http.post(
            "/api/v1/licenses/generate",
            headers=bearer(admin),
            json={
                "end_customer_id": "customer@company.com",
                "features": ["premium", "api_access"],
                "valid_days": 30,
            },
        )
        assert gen.status_code == 201, gen.text
        lic = gen.json()
        key = lic["license_key"]

        def check(customer: str = "customer@company.com") -> dict[str, Any]:
            resp = http.post(
                "/api/v1/licenses/validate",
                headers=bearer(admin),
                json={"license_key": key, "end_customer_id": customer},
            )
            assert resp.status_code == 200
            return resp.json()  # type: ignore[no-any-return]

        assert check()["code"] == "VALID" and check()["valid"] is True
        assert check("intruder@example.com")["code"] == "CUSTOMER_MISMATCH"
        other = http.post(
            "/api/v1/licenses/generate",
            headers=bearer(admin),
            json={"end_customer_id": "customer@company.com", "valid_days": 1},
        ).json()
        assert http.post(f"/api/v1/licenses/{key}/revoke", headers=bearer(admin)).status_code == 200
        assert check()["code"] == "REVOKED"
        # Revocation is final; renewal extends a live license and re-signs it.
        assert (
            http.post(
                f"/api/v1/licenses/{key}/renew", headers=bearer(admin), json={"valid_days": 30}
            ).status_code
            == 409
        )
        renewed = http.post(
            f"/api/v1/licenses/{other['license_key']}/renew",
            headers=bearer(admin),
            json={"valid_days": 30},
        )
        assert renewed.status_code == 200 and renewed.json()["valid_until"] > other["valid_until"]
        keys_doc = http.get("/api/v1/licenses/signing-keys", headers=bearer(admin)).json()

    stop_server(server)  # from here on there is no server at all

    file = lic["license_file"]
    result = verify_license_file(file, keys_doc, end_customer_id="customer@company.com")
    assert result.valid and result.code == "VALID" and result.features == ["premium", "api_access"]
    assert verify_license_file(renewed.json()["license_file"], keys_doc).valid
    # Change any byte of the payload or of either signature: refused.
    prefix, payload, ed_sig, pq_sig = file.split(".")
    starts = {
        "payload": len(prefix) + 1,
        "ed25519": len(prefix) + len(payload) + 2,
        "ml_dsa": len(prefix) + len(payload) + len(ed_sig) + 3,
    }
    spans = {"payload": len(payload), "ed25519": len(ed_sig), "ml_dsa": len(pq_sig)}
    for part, start in starts.items():
        for offset in range(0, spans[part] - 1, max(1, spans[part] // 97)):
            tampered = flip(file, start + offset)
            assert verify_license_file(tampered, keys_doc).code == "SIGNATURE_INVALID", (
                part,
                offset,
            )
    # A payload edited and re-encoded (say, a later expiry) is refused too.
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["valid_until"] = "2099-01-01T00:00:00Z"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert (
        verify_license_file(".".join([prefix, forged, ed_sig, pq_sig]), keys_doc).code
        == "SIGNATURE_INVALID"
    )

    # The CLI twin, offline as well.
    (tmp_path / "license.qlf").write_text(file)
    (tmp_path / "keys.json").write_text(json.dumps(keys_doc))
    ok = server.cli(
        "licenses",
        "verify",
        str(tmp_path / "license.qlf"),
        "--public-keys",
        str(tmp_path / "keys.json"),
        "--customer",
        "customer@company.com",
        check=False,
    )
    assert ok.returncode == 0 and "VALID" in ok.stdout
    (tmp_path / "bad.qlf").write_text(flip(file, starts["ml_dsa"] + 10))
    bad = server.cli(
        "licenses",
        "verify",
        str(tmp_path / "bad.qlf"),
        "--public-keys",
        str(tmp_path / "keys.json"),
        check=False,
    )
    assert bad.returncode == 1 and "SIGNATURE_INVALID" in bad.stdout


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_quota_is_exact_under_concurrency(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Quota 10, 40 concurrent generates through the real server: exactly 10 succeed."""
    url = request.getfixturevalue("postgres_database") if backend == "postgres" else None
    server = start_server(tmp_path, url)
    try:
        account = new_account(server, plan="free")
        server.cli(
            "accounts",
            "set-limits",
            account["id"],
            "--licenses-per-month",
            "10",
            "--requests-per-minute",
            "100000",
            "--burst",
            "1000",
        )
        headers = bearer(account["api_key"])

        def one(i: int) -> int:
            with httpx.Client(base_url=server.base_url, timeout=60) as http:
                return http.post(
                    "/api/v1/licenses/generate", headers=headers, json={"end_customer_id": f"c{i}"}
                ).status_code

        time.sleep(0.5)  # the limit change reaches the running server (poll interval 0.25 s)
        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(one, range(40)))
        assert statuses.count(201) == 10, statuses
        assert statuses.count(429) == 30, statuses
        engine = make_engine(url or f"sqlite:///{tmp_path / 'data' / 'quantumlock.db'}")
        with engine.connect() as conn:
            rows = conn.execute(
                select(func.count()).select_from(License).where(License.account_id == account["id"])
            ).scalar()
        engine.dispose()
        assert rows == 10
    finally:
        stop_server(server)
