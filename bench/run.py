"""Benchmark the QuantumLock server against a bare FastAPI app: `python -m bench.run --help`.

Both servers run side by side with the same uvicorn settings; each scenario is measured in
rounds that alternate it with the baseline, and the medians are reported, so that machine
drift (thermal, noisy neighbours) lands on both sides of the ratio.

Scenarios that depend on how many licenses are stored (validate) are measured once per
size in --licenses: the account is topped up to that many licenses by bench/seed.py, then
the scenario and its own baseline runs are measured, then the next size. All sizes share
one server and one database, without a restart: the server caches only the account's
secret and keys (the same at any size), SQLite drops its per-connection page cache when
another process writes, and a restart would not empty the OS page cache anyway. Scenarios
that add licenses (generate) run last, on the largest table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
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
from bench.seed import Sample
from bench.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 2
CLI_TIMEOUT_S = 120
SEED_TIMEOUT_S = 1800
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
    parser.add_argument(
        "--licenses",
        default="1000,1000000",
        help="licenses stored for the per-size scenarios (validate): comma list, 1k/1m ok",
    )
    parser.add_argument("--database-url", help="default: SQLite in a fresh temp data dir")
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="QL_NAME=VALUE",
        help="a server setting for this run (repeatable), e.g. QL_VALIDATION_CACHE_TTL=0",
    )
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
    args.server_settings = {}
    for item in args.server_setting:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"QL_[A-Z0-9_]+", name):
            parser.error(f"--server-setting {item!r}: expected QL_NAME=VALUE")
        args.server_settings[name] = value
    try:
        args.license_counts = parse_counts(args.licenses)
    except ValueError as exc:
        parser.error(f"--licenses: {exc}")
    return args


def parse_counts(text: str) -> list[int]:
    """ "1000,1m" -> [1000, 1000000]: sorted, since the table only grows during a run."""
    counts = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([km]?)\s*", part.lower())
        if match is None:
            raise ValueError(f"{part!r} is not a count (e.g. 1000, 10k, 1m)")
        count = round(float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)])
        if count < 1:
            raise ValueError("counts must be at least 1")
        counts.add(count)
    if not counts:
        raise ValueError("no counts")
    return sorted(counts)


def count_label(count: int) -> str:
    """1000 -> "1k", 1000000 -> "1m", 2500 -> "2.5k"; anything finer stays a number."""
    for unit, size in (("m", 1_000_000), ("k", 1_000)):
        if count >= size and (count * 10) % size == 0:
            return f"{count / size:g}{unit}"
    return str(count)


def server_env(
    data_dir: Path, database_url: str | None, settings: dict[str, str] | None = None
) -> dict[str, str]:
    # The shell's QL_* settings would make runs incomparable: the server runs on defaults,
    # which are the production settings (access log included), plus only what the command
    # line names with --server-setting (recorded in the report).
    env = {k: v for k, v in os.environ.items() if not k.startswith("QL_")}
    env["QL_DATA_DIR"] = str(data_dir)
    env["QL_ACCESS_LOG"] = "true"
    if database_url:
        env["QL_DATABASE_URL"] = database_url
    env.update(settings or {})
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


def create_account(env: dict[str, str]) -> tuple[str, str]:
    """The new account's id and admin API key (live mode)."""
    cli(env, "init", "--no-bootstrap")
    out = cli(env, "accounts", "create", "--name", "bench", "--email", "bench@localhost",
              "--plan", "enterprise", "--json")  # fmt: skip
    created, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    limits = ["--requests-per-minute", str(UNLIMITED), "--burst", str(UNLIMITED)]
    cli(env, "accounts", "set-limits", created["id"], *limits)
    return str(created["id"]), str(created["api_key"])


def seed(env: dict[str, str], tmp: Path, account_id: str, total: int) -> dict[str, Any]:
    """Top the account up to `total` live licenses; bench/seed.py prints its progress."""
    out = tmp / f"seed-{total}.json"
    command = [sys.executable, "-m", "bench.seed", "--account", account_id,
               "--total", str(total), "--samples-out", str(out)]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, cwd=ROOT, timeout=SEED_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"seeding {total:,} licenses took over {SEED_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"bench.seed exited {done.returncode}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def uvicorn_flags(port: int, workers: int) -> list[str]:
    # Must mirror `quantumlock serve` (src/quantumlock/cli/main.py), or the ratio lies.
    return [
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning", "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip


def preflight(base_url: str, request: Request) -> str | None:
    """Why the endpoint is not worth measuring, or None when it answers as expected.

    Every body of a rotating request is tried, so each license wrk will send is known good.
    """
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        for body in request.all_bodies():
            if (problem := _preflight_one(client, request, body)) is not None:
                return problem
    return None


def _preflight_one(client: httpx.Client, request: Request, body: str | None) -> str | None:
    try:
        response = client.request(
            request.method, request.path, headers=dict(request.headers), content=body
        )
    except httpx.HTTPError as exc:
        return f"pre-flight request failed: {exc!r}"
    if response.status_code != request.expect_status:
        return (
            f"pre-flight answered {response.status_code} (expected {request.expect_status}): "
            f"{response.text[:200]}"
        )
    if request.expect_json:
        try:
            data = response.json()
        except ValueError:
            return f"pre-flight answer is not JSON: {response.text[:200]}"
        if not isinstance(data, dict):
            return f"pre-flight answer is not a JSON object: {response.text[:200]}"
        if wrong := {k: data.get(k) for k, v in request.expect_json.items() if data.get(k) != v}:
            return f"pre-flight answered {wrong}, expected {dict(request.expect_json)}"
    if request.expect_text is not None and request.expect_text not in response.text:
        return f"pre-flight answer lacks {request.expect_text!r}: {response.text[:200]}"
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
    env = server_env(data_dir, args.database_url, args.server_settings)
    print(f"Preparing a data dir in {tmp} ...", flush=True)
    account_id, api_key = create_account(env)

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
    ctx = SetupContext(
        api_key=api_key, base_url=ql.base_url, data_dir=data_dir, account_id=account_id
    )
    results: dict[str, dict[str, Any]] = {}
    seeding: list[dict[str, Any]] = []

    def run(name: str, server: Server, request: Request, seconds: int) -> wrk.WrkResult:
        result = wrk.run(
            server.base_url + request.path,
            request,
            script=tmp / f"{name}.lua",
            duration=seconds,
            connections=args.connections,
            threads=args.threads,
        )
        print(f"  {name:<14} {result.rps:>10,.0f} rps  p50 {result.p50_ms:7.2f} ms  "
              f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}"
              + (f"  mismatched {result.mismatched}" if result.mismatched else ""),
              flush=True)  # fmt: skip
        return result

    def phase(rows: dict[str, tuple[Scenario, SetupContext]]) -> None:
        """Set up, check, warm up and measure some rows, each with its own baseline runs."""
        ready: dict[str, Request] = {}
        for row, (scenario, row_ctx) in rows.items():
            try:
                request = prepare(scenario, row_ctx)
            except Exception as exc:  # a broken setup skips its scenario, not the whole run
                results[row] = report.skipped(scenario.method, scenario.path, f"setup: {exc!r}")
                continue
            if (problem := preflight(ql.base_url, request)) is not None:
                results[row] = report.skipped(request.method, request.path, problem)
                continue
            ready[row] = request
        if not ready:
            return
        print(f"Warming up ({WARMUP_S} s per endpoint) ...", flush=True)
        run("baseline", hello, baseline, WARMUP_S)
        for row, request in ready.items():
            run(row, ql, request, WARMUP_S)
        runs: dict[str, list[wrk.WrkResult]] = {row: [] for row in ready}
        paired: dict[str, list[wrk.WrkResult]] = {row: [] for row in ready}
        for round_no in range(args.rounds):
            print(f"Round {round_no + 1}/{args.rounds} ({args.duration} s each) ...", flush=True)
            for row, request in ready.items():
                # Odd rounds go scenario-first, so an order effect cancels out over the rounds.
                baseline_first = round_no % 2 == 0
                if baseline_first:
                    paired[row].append(run("baseline", hello, baseline, args.duration))
                runs[row].append(run(row, ql, request, args.duration))
                if not baseline_first:
                    paired[row].append(run("baseline", hello, baseline, args.duration))
        for row, request in ready.items():
            results[row] = report.summarise(request.method, request.path, runs[row], paired[row])

    names = args.scenario_names
    sized = [n for n in names if SCENARIOS[n].per_table_size]
    writers = [n for n in names if SCENARIOS[n].writes_licenses and n not in sized]
    others = [n for n in names if n not in sized and n not in writers]
    phase({n: (SCENARIOS[n], ctx) for n in others})
    row_names: dict[str, list[str]] = {n: [n] for n in others + writers}
    stored: dict[str, int] = {}
    for count in args.license_counts if sized else []:
        label = count_label(count)
        rows = {f"{n}@{label}": n for n in sized}
        for row, n in rows.items():
            row_names.setdefault(n, []).append(row)
        print(f"Seeding the account up to {count:,} licenses ...", flush=True)
        try:
            seeded = seed(env, tmp, account_id, count)
        except (RuntimeError, OSError, ValueError) as exc:
            for row, n in rows.items():
                s = SCENARIOS[n]
                results[row] = report.skipped(s.method, s.path, f"seeding: {exc}")
            continue
        seeding.append({k: v for k, v in seeded.items() if k != "samples"} | {"target": count})
        print(
            f"Seeded {seeded['inserted']:,} licenses in {seeded['seconds']:.1f} s "
            f"({seeded['rows_per_s']:,.0f} rows/s); {seeded['total']:,} stored",
            flush=True,
        )
        samples = [Sample(**sample) for sample in seeded["samples"]]
        row_ctx = dataclasses.replace(ctx, samples=samples)
        phase({row: (SCENARIOS[n], row_ctx) for row, n in rows.items()})
        for row in rows:
            stored[row] = int(seeded["total"])
            if seeded["total"] != count and row in results:
                results[row]["valid"] = False
                results[row]["problems"].append(
                    f"{seeded['total']:,} licenses stored, not {count:,}"
                )
    phase({n: (SCENARIOS[n], ctx) for n in writers})

    scenarios: dict[str, dict[str, Any]] = {}
    for name in names:
        for row in row_names[name]:
            scenarios[row] = results[row] | {
                "scenario": name,
                "licenses_stored": stored.get(row),
                "target_ratio": SCENARIOS[name].target_ratio,
                "max_p99_growth": SCENARIOS[name].max_p99_growth,
            }
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
            "server_settings": args.server_settings,
            "licenses": args.license_counts if sized else None,
        },
        "scenarios": scenarios,
        "seeding": seeding,
        "targets": report.targets(scenarios),
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
