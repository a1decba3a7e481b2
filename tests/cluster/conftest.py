"""Three real `quantumlock serve` nodes on one fresh PostgreSQL database and one Redis.

The Redis is a `redis-server` of the cluster's own, on a free port, so a test can stop
and restart it without touching anything else on the machine. Everything is torn down
(processes stopped, database dropped) at the end of the module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import MASTER_KEY, fresh_postgres_database, need_postgres
from tests.e2e.conftest import CLI, free_port

pytestmark = pytest.mark.xdist_group("cluster")


def need_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server must be installed on CI (it runs Redis on 127.0.0.1:6379).")
        pytest.skip("redis-server is not installed")
    return path


@dataclass
class RedisServer:
    binary: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", str(self.log)],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base_url + "/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not come up:\n{self.log.read_text()}")

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@dataclass
class Cluster:
    database_url: str
    redis: RedisServer
    nodes: list[Node]
    env: dict[str, str]
    accounts: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"CLI {args} failed: {done.stdout}\n{done.stderr}"
        return done.stdout

    def create_account(self, plan: str = "enterprise") -> tuple[str, str]:
        """(account id, admin key) of a new account."""
        name = f"tenant-{uuid.uuid4().hex[:8]}"
        out = self.cli("accounts", "create", "--name", name, "--email", f"{name}@example.com",
                       "--plan", plan, "--json")  # fmt: skip
        created = json.loads(out)
        return str(created["id"]), str(created["api_key"])

    def set_limits(self, account_id: str, *args: str) -> None:
        self.cli("accounts", "set-limits", account_id, *args)

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        dsn = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            return list(conn.execute(query, params).fetchall())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    need_postgres()
    binary = need_redis_server()
    tmp = tmp_path_factory.mktemp("cluster")
    with fresh_postgres_database("ql_cluster") as database_url:
        yield from _cluster(binary, tmp, database_url)


def _cluster(binary: str, tmp: Path, database_url: str) -> Iterator[Cluster]:
    redis = RedisServer(binary, free_port(), tmp / "redis.log")
    redis.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QL_")},
        "QL_DATA_DIR": str(tmp / "data"),
        "QL_MASTER_KEY": MASTER_KEY,
        "QL_DATABASE_URL": database_url,
        "QL_REDIS_URL": redis.url,
        "QL_REDIS_PREFIX": f"qlcluster:{uuid.uuid4().hex[:8]}:",
    }
    nodes: list[Node] = []
    try:
        init = subprocess.run([*CLI, "init", "--no-bootstrap"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert init.returncode == 0, init.stderr
        for label in "abc":
            node = Node(f"node-{label}", free_port(), env, tmp / f"node-{label}.log")
            node.start()
            nodes.append(node)
        yield Cluster(database_url, redis, nodes, env)
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
