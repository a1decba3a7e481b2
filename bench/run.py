"""Benchmark the QuantumLock server against a bare FastAPI app: `python -m bench.run --help`.

Both servers run side by side with the same uvicorn settings; each scenario is measured in
rounds that alternate it with the baseline, and the medians are reported, so that machine
drift (thermal, noisy neighbours) lands on both sides of the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench import report, wrk
from bench.scenarios import BASELINE, SCENARIOS, Request, Scenario, SetupContext, prepare
from bench.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 2
CLI_TIMEOUT_S = 120
# The CLI caps both at this; the whole run stays far below it, so the limiter never refuses.
UNLIMITED = 1_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/scenario rounds")
    parser.add_argument("--scenarios", default="me", help=f"comma list of: {', '.join(SCENARIOS)}")
    parser.add_argument("--database-url", help="default: SQLite in a fresh temp data dir")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--keep-tmp", action="store_true", help="keep the temp dir (data, server logs)"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "connections", "threads", "workers", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection per thread")
    args.scenario_names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in args.scenario_names if n not in SCENARIOS]
    if unknown or not args.scenario_names:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    return args


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    # The shell's QL_* settings would make runs incomparable: the server runs on defaults,
    # which are the production settings (access log included).
    env = {k: v for k, v in os.environ.items() if not k.startswith("QL_")}
    env["QL_DATA_DIR"] = str(data_dir)
    env["QL_ACCESS_LOG"] = "true"
    if database_url:
        env["QL_DATABASE_URL"] = database_url
    return env


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("quantumlock")
    return [str(script)] if script.exists() else [sys.executable, "-m", "quantumlock.cli"]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*cli_command(), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"quantumlock {' '.join(args[:2])} failed:\n{done.stderr}")
    return done.stdout


def create_account(env: dict[str, str]) -> str:
    cli(env, "init", "--no-bootstrap")
    out = cli(env, "accounts", "create", "--name", "bench", "--email", "bench@localhost",
              "--plan", "enterprise", "--json")  # fmt: skip
    created, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    limits = ["--requests-per-minute", str(UNLIMITED), "--burst", str(UNLIMITED)]
    cli(env, "accounts", "set-limits", created["id"], *limits)
    return str(created["api_key"])


def uvicorn_flags(port: int, workers: int) -> list[str]:
    # Must mirror `quantumlock serve` (src/quantumlock/cli/main.py), or the ratio lies.
    return [
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning", "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip


def preflight(base_url: str, request: Request) -> str | None:
    """Why the endpoint is not worth measuring, or None when it answers as expected."""
    try:
        response = httpx.request(
            request.method,
            base_url + request.path,
            headers=dict(request.headers),
            content=request.body,
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        return f"pre-flight request failed: {exc!r}"
    if response.status_code != request.expect_status:
        return (
            f"pre-flight answered {response.status_code} (expected {request.expect_status}): "
            f"{response.text[:200]}"
        )
    return None


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # Our own results files do not make the measured code dirty.
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"):
        commit += "+dirty"
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].strip(),
        "quantumlock": version("quantumlock"),
        "git_commit": commit,
        # Inherited by both servers; PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE move numbers.
        "python_env": {k: v for k, v in os.environ.items() if k.startswith("PYTHON")},
    }


def measure(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> dict[str, Any]:
    machine = machine_info()
    data_dir = tmp / "data"
    env = server_env(data_dir, args.database_url)
    print(f"Preparing a data dir in {tmp} ...", flush=True)
    api_key = create_account(env)

    ql = Server("quantumlock", [*cli_command(), "serve", "--host", "127.0.0.1",
                "--port", str(port := free_port()), "--workers", str(args.workers)],
                env, ROOT, port, tmp)  # fmt: skip
    servers.append(ql)
    ql.start()
    # Alone on the machine while it starts: the hello server comes up only afterwards.
    cold_start = ql.wait_ready("/health")
    print(f"quantumlock ready on {ql.base_url} after {cold_start:.2f} s", flush=True)
    hello_cmd = [sys.executable, "-m", "uvicorn", "bench.hello_app:app"]
    hello = Server("hello", [*hello_cmd, *uvicorn_flags(port := free_port(), args.workers)],
                   env, ROOT, port, tmp)  # fmt: skip
    servers.append(hello)
    hello.start()
    hello_cold_start = hello.wait_ready("/hello")

    baseline = prepare(BASELINE, None)
    if (problem := preflight(hello.base_url, baseline)) is not None:
        raise RuntimeError(f"the baseline is broken: {problem}")
    ctx = SetupContext(api_key=api_key, base_url=ql.base_url, data_dir=data_dir)
    results: dict[str, dict[str, Any]] = {}
    ready: dict[str, Request] = {}
    for name in args.scenario_names:
        scenario: Scenario = SCENARIOS[name]
        try:
            request = prepare(scenario, ctx)
        except Exception as exc:  # a broken setup skips its scenario, not the whole run
            results[name] = report.skipped(scenario.method, scenario.path, f"setup: {exc!r}")
            continue
        if (problem := preflight(ql.base_url, request)) is not None:
            results[name] = report.skipped(request.method, request.path, problem)
            continue
        ready[name] = request

    def run(name: str, server: Server, request: Request, seconds: int) -> wrk.WrkResult:
        result = wrk.run(
            server.base_url + request.path,
            request,
            script=tmp / f"{name}.lua",
            duration=seconds,
            connections=args.connections,
            threads=args.threads,
        )
        print(f"  {name:<12} {result.rps:>10,.0f} rps  p50 {result.p50_ms:7.2f} ms  "
              f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}", flush=True)  # fmt: skip
        return result

    print(f"Warming up ({WARMUP_S} s per endpoint) ...", flush=True)
    run("baseline", hello, baseline, WARMUP_S)
    for name, request in ready.items():
        run(name, ql, request, WARMUP_S)

    runs: dict[str, list[wrk.WrkResult]] = {name: [] for name in ready}
    paired: dict[str, list[wrk.WrkResult]] = {name: [] for name in ready}
    for round_no in range(args.rounds):
        print(f"Round {round_no + 1}/{args.rounds} ({args.duration} s each) ...", flush=True)
        for name, request in ready.items():
            # Odd rounds go scenario-first, so an order effect cancels out over the rounds.
            baseline_first = round_no % 2 == 0
            if baseline_first:
                paired[name].append(run("baseline", hello, baseline, args.duration))
            runs[name].append(run(name, ql, request, args.duration))
            if not baseline_first:
                paired[name].append(run("baseline", hello, baseline, args.duration))

    for name, request in ready.items():
        results[name] = report.summarise(request.method, request.path, runs[name], paired[name])
    database = (
        make_url(args.database_url).render_as_string(hide_password=True)
        if args.database_url
        else "SQLite (fresh temp data dir)"
    )
    return {
        "machine": machine,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": WARMUP_S,
            "connections": args.connections,
            "threads": args.threads,
            "workers": args.workers,
            "rounds": args.rounds,
            "database": database,
            "access_log": True,
        },
        "scenarios": {name: results[name] for name in args.scenario_names},
        "cold_start_s": round(cold_start, 3),
        "baseline_cold_start_s": round(hello_cold_start, 3),
        "rss_mb": {"server": ql.rss(), "baseline": hello.rss()},
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, `kill`) takes the same path as Ctrl-C, so the servers go too;
    # SIGINT is set explicitly because a parent shell may have left it ignored.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install -y wrk` (or `make bench`)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="ql-bench-"))
    servers: list[Server] = []
    keep = args.keep_tmp
    try:
        result = measure(args, tmp, servers)
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        return 130
    except (RuntimeError, wrk.WrkError) as exc:
        keep = True  # the server logs are the evidence
        print(f"Benchmark failed: {exc}", file=sys.stderr)
        for server in servers:
            if tail := server.stderr_tail():
                print(f"--- {server.name} stderr (tail) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            server.stop()
        if keep:
            print(f"Temp dir kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    table = report.write(args.out, result)
    print(f"\nWrote {args.out / 'latest.json'} and {args.out / 'latest.md'}\n\n{table}")
    return 0 if all(row["valid"] for row in result["scenarios"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
