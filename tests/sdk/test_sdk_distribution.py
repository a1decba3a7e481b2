"""The SDK ships alone: its own distribution, depending on httpx (and cryptography for offline
license files) and on nothing of the server.

The e2e test installs `./sdk[offline]` into a fresh virtual environment, as a vendor's shipped
application would, and verifies there a license file that the server's own signing code made.
It needs the package registry (pip's usual index), as `make install` does."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"
# The server's stack, none of which a vendor's application may receive with the SDK.
SERVER_ONLY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "psycopg-binary",
    "pydantic",
    "quantumlock",
}
# What the SDK's modules may import: the standard library, its two dependencies, itself.
ALLOWED_THIRD_PARTY = {"httpx", "cryptography", "qcos"}


def imported_top_levels(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_sdk_sources_import_only_stdlib_httpx_and_cryptography() -> None:
    sources = sorted((SDK / "src" / "qcos").glob("*.py"))
    assert len(sources) > 5
    for path in sources:
        foreign = imported_top_levels(path) - ALLOWED_THIRD_PARTY - sys.stdlib_module_names
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_the_server_distribution_does_not_ship_the_sdk() -> None:
    import tomllib

    server = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sdk = tomllib.loads((SDK / "pyproject.toml").read_text())
    assert server["tool"]["setuptools"]["packages"]["find"]["include"] == ["quantumlock*"]
    assert "qcos" not in server["tool"]["setuptools"].get("package-data", {})
    assert not (ROOT / "src" / "qcos").exists()
    assert sdk["project"]["dependencies"] == ["httpx>=0.27"]
    assert [d.partition(">")[0] for d in sdk["project"]["optional-dependencies"]["offline"]] == [
        "cryptography"
    ]
    # One source for each version: the packages' own modules, read by setuptools.
    assert "version" not in server["project"] and "version" not in sdk["project"]
    assert sdk["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "qcos._version.__version__"
    assert server["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "quantumlock.__version__"


def signed_license_file(tmp: Path) -> tuple[Path, Path, str]:
    """A license file and the signing-keys document, as the server makes and serves them."""
    from quantumlock.licensing import signing
    from quantumlock.licensing.models import SigningKey
    from quantumlock.licensing.schemas import SigningKeyOut, SigningKeys

    keys = signing.KeyPair.generate()
    row = SigningKey(
        kid="sk_dist",
        account_id="cust_dist",
        alg=signing.ALG,
        mode="live",
        status="active",
        ed25519_public=keys.public_ed25519(),
        ml_dsa_65_public=keys.public_ml_dsa_65(),
        created_at=datetime.now(UTC),
    )
    document = SigningKeys(keys=[SigningKeyOut.from_row(row)]).model_dump_json()
    payload = {
        "v": 1,
        "license_key": "QLOCK-DIST-0000-0001",
        "account_id": "cust_dist",
        "mode": "live",
        "end_customer_id": "customer@company.com",
        "features": ["premium"],
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        "issued_at": datetime.now(UTC).isoformat(),
        "kid": row.kid,
    }
    license_path, keys_path = tmp / "customer.qlf", tmp / "signing-keys.json"
    license_path.write_text(signing.license_file(payload, keys))
    keys_path.write_text(document)
    return license_path, keys_path, str(payload["license_key"])


CHECK = """
import json, sys
from importlib import metadata
installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
import qcos
from qcos.licensing import verify_license_file
license_file, keys_file, customer = sys.argv[1:]
result = verify_license_file(
    open(license_file).read(), open(keys_file).read(), end_customer_id=customer
)
tampered = verify_license_file(
    open(license_file).read().replace(".", ".A", 1), open(keys_file).read()
)
print(json.dumps({
    "installed": sorted(installed),
    "modules": sorted(m.partition(".")[0] for m in sys.modules),
    "valid": result.valid, "code": result.code, "license_key": result.license_key,
    "tampered": tampered.code, "version": qcos.__version__,
    "error": f"{qcos.APITimeoutError.__module__}.{qcos.APITimeoutError.__qualname__}",
}))
"""


@pytest.mark.e2e
@pytest.mark.xdist_group("sdk_venv")
def test_sdk_installs_alone_and_verifies_a_license_file_offline(tmp_path: Path) -> None:
    started = time.monotonic()
    venv = tmp_path / "vendor-app"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{SDK}[offline]"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    license_path, keys_path, license_key = signed_license_file(tmp_path)
    # Run from the temp dir with a clean path: only what the venv installed can be imported.
    run = subprocess.run(
        [python, "-I", "-c", CHECK, str(license_path), str(keys_path), "customer@company.com"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert {"qcos", "httpx", "cryptography"} <= set(seen["installed"])
    assert not SERVER_ONLY & set(seen["installed"]), seen["installed"]
    assert not SERVER_ONLY & set(seen["modules"])
    assert (seen["valid"], seen["code"], seen["license_key"]) == (True, "VALID", license_key)
    assert seen["tampered"] == "SIGNATURE_INVALID"
    assert seen["error"] == "qcos.APITimeoutError"
    from qcos import __version__

    assert seen["version"] == __version__
    print(f"fresh venv, install and offline check in {time.monotonic() - started:.1f} s")
