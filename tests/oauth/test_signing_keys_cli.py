"""`quantumlock oauth signing-keys list|rotate|retire` on a data dir (the real CLI process)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import isolated_env
from tests.e2e.test_cli_e2e import run

pytestmark = pytest.mark.e2e


def cli_json(env: dict[str, str], *args: str) -> Any:
    done = run(env, "oauth", "signing-keys", *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_rotate_list_retire(tmp_path: Path) -> None:
    env = {**isolated_env(tmp_path), "QL_DATA_DIR": str(tmp_path / "data")}
    for name in ("QL_DATABASE_URL", "QL_MASTER_KEY"):
        env.pop(name, None)
    assert run(env, "init", "--no-bootstrap").returncode == 0
    first = cli_json(env, "rotate")
    second = cli_json(env, "rotate")
    rsa = cli_json(env, "rotate", "--alg", "RS256")
    assert first["alg"] == second["alg"] == "ES256" and rsa["alg"] == "RS256"
    listed = cli_json(env, "list")
    status = {k["kid"]: k["status"] for k in listed}
    assert status == {first["kid"]: "verify_only", second["kid"]: "active",
                      rsa["kid"]: "active"}  # fmt: skip
    assert "BEGIN" not in json.dumps(listed)  # never key material
    time.sleep(1.1)
    retired = cli_json(env, "retire", "--older-than", "1s")
    assert retired == {"retired": [first["kid"]]}
    bad = run(env, "oauth", "signing-keys", "rotate", "--alg", "HS256")
    assert bad.returncode == 2 and "ES256" in bad.stderr
