"""Run compose.yaml's topology without Docker, and check it end to end: `make stack-check`.

The build machine has the Docker client but no Docker engine, so `docker compose up` cannot
run here. This script builds and runs the same pieces natively:

* the image's build: `pip wheel` of the project into a wheel dir, then a clean virtualenv
  that installs only those wheels (the Dockerfile's two stages);
* `quantumlock init --no-bootstrap` (compose's `init` service), then three nodes running
  the Dockerfile's command (`serve --workers 2`) with compose's environment, on a fresh
  PostgreSQL database and a Redis key prefix of their own;
* nginx with `deploy/nginx.conf` itself, only the upstream host names replaced by the
  nodes' local ports.

Then, through the load balancer only: readiness with both dependencies, an account made
by the CLI, a license generated and validated, every node serving, the LB's request id
honoured, a revoked key refused by every node within 1 s, `kill -9` of a node costing no
failed request, and the brute-force guard per client address (shared over Redis, and not
fooled by a client-sent X-Forwarded-For). Everything is torn down at the end. Exit status
0 when every check passed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("QL_STACK_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
REDIS_URL = os.environ.get("QL_STACK_REDIS_URL", "redis://127.0.0.1:6379/0")
CUSTOMER = "customer@company.com"

results: list[tuple[bool, str]] = []


def check(ok: bool, what: str) -> None:
    results.append((ok, what))
    print(("ok    " if ok else "FAIL  ") + what, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def build(tmp: Path) -> Path:
    """The Dockerfile's stages: wheels of the project and its dependencies, then a clean venv."""
    wheels, app = tmp / "wheels", tmp / "app"
    started = time.monotonic()
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet"]
    lock = ROOT / "requirements" / "lock.txt"
    subprocess.run(
        [*pip_wheel, "--require-hashes", "--wheel-dir", str(wheels), "-r", str(lock)], check=True
    )
    subprocess.run(
        [*pip_wheel, "--no-deps", "--wheel-dir", str(app), str(ROOT / "sdk"), str(ROOT)],
        check=True,
    )
    venv = tmp / "image"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheels),
            *map(str, app.glob("*.whl")),
        ],
        check=True,
    )
    print(f"built the image's virtualenv in {time.monotonic() - started:.0f} s", flush=True)
    return venv / "bin" / "quantumlock"


def nginx_config(tmp: Path, listen: int, node_ports: list[int]) -> Path:
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for i, port in enumerate(node_ports, start=1):
        site = site.replace(f"server node{i}:8000", f"server 127.0.0.1:{port}")
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(
        f"daemon off;\npid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log;\n"
        "events {}\n"
        f"http {{\n  access_log {tmp}/nginx-access.log;\n"
        f"  client_body_temp_path {tmp}/nginx-body;\n  proxy_temp_path {tmp}/nginx-proxy;\n"
        f"  include {tmp}/site.conf;\n}}\n"
    )
    return main


def main() -> int:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        print("nginx is not installed (make stack-check installs it)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ql-stack-"))
    db = "ql_stack_" + uuid.uuid4().hex[:10]
    prefix = f"qlstack{uuid.uuid4().hex[:8]}:"
    processes: list[subprocess.Popen[bytes]] = []
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        cli = build(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QL_")}
        env.update(
            QL_DATA_DIR=str(tmp / "data"),
            QL_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
            QL_REDIS_URL=REDIS_URL,
            QL_REDIS_PREFIX=prefix,
            QL_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(),
            QL_FORWARDED_ALLOW_IPS="*",
            QL_ENTROPY_SOURCES="qcos_api,cryptographic",
            PYTHONUNBUFFERED="1",
        )
        subprocess.run([str(cli), "init", "--no-bootstrap"], env=env, check=True)
        ports = [free_port() for _ in range(3)]
        logs = [tmp / f"node{i}.log" for i in (1, 2, 3)]
        for port, log in zip(ports, logs, strict=True):
            command = [
                str(cli),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ]
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        lb_port = free_port()
        lb = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(nginx_config(tmp, lb_port, ports))])
        base = f"http://127.0.0.1:{lb_port}"
        http = httpx.Client(base_url=base, timeout=10)

        def ready() -> bool:
            return (
                all(
                    httpx.get(f"http://127.0.0.1:{p}/health/ready", timeout=2).status_code == 200
                    for p in ports
                )
                and http.get("/health/ready").status_code == 200
            )

        check(
            wait_until(ready, 60),
            "three nodes (2 workers each) and nginx up; /health/ready 200 through the LB",
        )
        health = http.get("/health/ready").json()
        check(
            health.get("database") == "ok" and health.get("redis") == "ok",
            f"readiness checks both dependencies: {health}",
        )

        made = subprocess.run(
            [str(cli), "accounts", "create", "--name", "ACME", "--email", "ops@acme.example",
             "--plan", "business", "--json"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        account = json.JSONDecoder().raw_decode(made.stdout[made.stdout.index("{") :])[0]
        admin = {"Authorization": f"Bearer {account['api_key']}"}
        me = http.get("/api/v2/me", headers=admin)
        check(
            me.status_code == 200, "the CLI's new admin key works through the LB (GET /api/v2/me)"
        )
        rid = me.headers.get("x-request-id", "")
        check(
            bool(re.fullmatch(r"[0-9a-f]{32}", rid)),
            f"nginx's request id is the request's id ({rid})",
        )

        lic = http.post(
            "/api/v1/licenses/generate", json={"end_customer_id": CUSTOMER}, headers=admin
        )
        check(lic.status_code == 201, "license generated through the LB (201)")
        key = lic.json()["license_key"]
        codes = {
            http.post("/api/v1/licenses/validate", headers=admin,
                      json={"license_key": key, "end_customer_id": CUSTOMER}).json()["code"]
            for _ in range(60)
        }  # fmt: skip
        check(codes == {"VALID"}, f"60 validations through the LB: {sorted(codes)}")
        served = [log.read_text().count('"event":"request"') for log in logs]
        check(
            all(n > 0 for n in served),
            f"every node served requests (access-log lines per node: {served})",
        )

        created = http.post(
            "/api/v2/keys", json={"name": "ci", "scopes": ["account:read"]}, headers=admin
        )
        victim = created.json()["data"]
        victim_headers = {"Authorization": f"Bearer {victim['key']}"}
        warm = [http.get("/api/v2/me", headers=victim_headers).status_code for _ in range(12)]
        http.delete(f"/api/v2/keys/{victim['id']}", headers=admin)
        revoked_at = time.monotonic()
        # Each node has two workers, each with its own cache: ask every node several times.
        settled = wait_until(
            lambda: all(
                httpx.get(
                    f"http://127.0.0.1:{p}/api/v2/me", headers=victim_headers, timeout=2
                ).status_code
                == 401
                for p in ports
                for _ in range(4)
            ),
            1.0,
        )
        check(
            warm == [200] * 12 and settled,
            "a key revoked through the LB is refused by all three nodes after "
            f"{time.monotonic() - revoked_at:.2f} s",
        )

        os.killpg(processes[0].pid, signal.SIGKILL)
        after = [
            http.post("/api/v1/licenses/validate", headers=admin,
                      json={"license_key": key, "end_customer_id": CUSTOMER}).status_code
            for _ in range(60)
        ]  # fmt: skip
        check(
            after == [200] * 60,
            f"kill -9 of node 1: {after.count(200)} of 60 requests through the LB answered 200 "
            f"({sorted(set(after))})",
        )
        # Last: it blocks this client's address. The guard is per client address as nginx
        # sees it, shared by the nodes over Redis; a client-sent X-Forwarded-For changes
        # nothing (nginx replaces it), so naming a new address each time does not help.
        bad = {"Authorization": "Bearer qcos_live_" + "A" * 40}
        statuses = [
            http.get("/api/v2/me", headers={**bad, "X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(40)
        ]
        good = http.get("/api/v2/me", headers=admin).status_code
        check(
            # Earlier checks' refused keys (the revoked one) already count against this
            # address: fewer than 30 may be left, but once refused it stays refused.
            0 < (k := statuses.count(401)) <= 30
            and statuses == [401] * k + [429] * (40 - k)
            and good == 429,
            "brute-force guard per client address, shared by the nodes, not fooled by a "
            f"client-sent X-Forwarded-For: {statuses.count(401)} x 401 then "
            f"{statuses.count(429)} x 429; then even a good key from that address: {good}",
        )
        lb.terminate()
        lb.wait(timeout=10)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for name in client.scan_iter(match=prefix + "*"):
            client.delete(name)
        if all(ok for ok, _ in results):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp} (node logs, nginx logs)", file=sys.stderr)
    passed = sum(ok for ok, _ in results)
    print(f"\n{passed} of {len(results)} checks passed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
