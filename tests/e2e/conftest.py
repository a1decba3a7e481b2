"""A real `quantumlock serve` process, started through the CLI on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY

CLI = [sys.executable, "-m", "quantumlock.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*CLI, *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"CLI {args} failed: {result.stdout}\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)


def isolated_env(tmp: Path) -> dict[str, str]:
    """The environment of CLI and server processes, without the developer's own CLI config
    (a saved `quantumlock login` profile, a recorded data dir) or API key."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config")}
    for name in ("QCOS_API_KEY", "QCOS_BASE_URL", "QUANTUMLOCK_CONFIG", "QUANTUMLOCK_PROFILE"):
        env.pop(name, None)
    return env


def start_server(tmp: Path, database_url: str | None) -> Server:
    env = {**isolated_env(tmp), "QL_DATA_DIR": str(tmp / "data"), "QL_MASTER_KEY": MASTER_KEY}
    env.pop("QL_DATABASE_URL", None)
    if database_url:
        env["QL_DATABASE_URL"] = database_url
    return init_and_serve(tmp, env)


def init_and_serve(tmp: Path, env: dict[str, str]) -> Server:
    """`quantumlock init --no-bootstrap`, then `serve` on a free port until /health is 200."""
    init = subprocess.run(
        [*CLI, "init", "--no-bootstrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    return serve(tmp, env)


def serve(tmp: Path, env: dict[str, str], *, umask: int | None = None) -> Server:
    """`quantumlock serve` on a free port until /health is 200; `umask`: the process's own, as
    an operator's shell would set it. Each process logs to its own file (a restart on the same
    data keeps the first one's log for the secrets scan)."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    command = [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if umask is not None:
        command = ["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh", *command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", env, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not become healthy:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# The shared server's PostgreSQL variant is `make test-long`'s: these modules test the CLI, the
# SDK and the HTTP surface of a real process, which do not depend on the database (the API tests
# run every route on both databases in-process; the database-specific real-process behaviours
# (quota under concurrency, kill -9, master-key rotation and canary) keep both variants in
# `make test`, and the cluster runs on PostgreSQL).
@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.long])],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    srv = start_server(tmp_path_factory.mktemp("e2e"), url)
    try:
        yield srv
    finally:
        stop_server(srv)
