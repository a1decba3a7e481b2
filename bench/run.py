"""Benchmark the QuantumLock server against a bare FastAPI app: `python -m bench.run --help`.

One command measures a matrix of configurations (database x server workers; by default
SQLite and PostgreSQL, 1 and 2 workers) and writes ONE combined report, latest.json and
latest.md. In each configuration the QuantumLock server and the baseline run side by side
with the same uvicorn settings; each scenario is measured in rounds that alternate it with
the baseline, and the medians are reported, so that machine drift (thermal, noisy
neighbours) lands on both sides of the ratio.

Each database is made once (a fresh SQLite data dir, a fresh PostgreSQL database) and
shared by its worker counts, and so is its seeding: scenarios that depend on how many
licenses are stored (validate) are measured once per size in --licenses; the account is
topped up to that many licenses by bench/seed.py, then every worker count of that
database is measured at that size (its own server and baseline, started for it and
stopped after), then the next size. A restart between sizes costs nothing that matters:
the server caches only the account's secret and keys and recent validations (the warm-up
refills them), and the OS page cache outlives it. Scenarios that do not depend on the
table (me, entropy, encrypt) run at the first size; scenarios that add licenses (generate)
run last, on the largest table, after every worker count has measured validate on it.
A database made for the run is removed at its end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg

from bench import databases, report, signing, wrk
from bench.scenarios import (
    BASELINE,
    ROUTE_NOT_AVAILABLE,
    SCENARIOS,
    Request,
    RouteNotAvailable,
    Scenario,
    SetupContext,
    missing_route,
    prepare,
)
from bench.seed import Sample
from bench.servers import Server, free_port

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 2
# Before every measured run, the same endpoint again for this long, not recorded. The rounds
# alternate each scenario with 10 s of baseline, longer than the validation cache's 2 s TTL:
# without it every validate run began with all its licenses (and, after 30 s, the API key)
# expired, and the reloads of that first ~0.2 s were the run's p99. The steady state is
# what the table reports; the baseline gets the same treatment.
REWARM_S = 1
CLI_TIMEOUT_S = 120
SEED_TIMEOUT_S = 1800
# The CLI caps both at this; the whole run stays far below it, so the limiter never refuses.
UNLIMITED = 1_000_000


QUICK = {"duration": 5, "rounds": 1, "licenses": "1000,100000"}
FULL = {"duration": 10, "rounds": 3, "licenses": "1000,1000000"}


@dataclass(frozen=True)
class Config:
    """One cell of the matrix: a database kind and a number of server workers."""

    database: str
    workers: int

    @property
    def key(self) -> str:
        return f"{self.database}/w{self.workers}"


DEFAULT_SERVER_SETTINGS = {"QL_ENTROPY_SOURCES": "qcos_api,cryptographic"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK['duration']} s rounds, {QUICK['rounds']} round, "
        f"{QUICK['licenses']} licenses (flags given explicitly still win)",
    )
    parser.add_argument(
        "--duration", type=int, help=f"seconds per measurement (default {FULL['duration']})"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, help=f"baseline/scenario rounds (default {FULL['rounds']})"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma list of: {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--licenses",
        help="licenses stored for the per-size scenarios (validate): comma list, 1k/1m ok "
        f"(default {FULL['licenses']})",
    )
    parser.add_argument(
        "--databases",
        help=f"comma list of: {', '.join(databases.KINDS)} (default: both); "
        "each is made fresh for the run and removed at its end",
    )
    parser.add_argument("--workers-list", help="comma list of server worker counts (default: 1,2)")
    parser.add_argument("--workers", type=int, help="one worker count: --workers-list N")
    parser.add_argument(
        "--matrix",
        help="exactly these configurations, DATABASE:WORKERS, e.g. sqlite:1,postgres:2 "
        "(instead of --databases x --workers-list)",
    )
    parser.add_argument(
        "--database-url",
        help="measure this database (kept as it is) instead of --databases",
    )
    parser.add_argument(
        "--postgres-dsn",
        default=os.environ.get("QL_BENCH_PG_DSN", databases.DEFAULT_PG_DSN),
        help="where --databases postgres makes its fresh database "
        "(default: $QL_BENCH_PG_DSN or %(default)r)",
    )
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
    defaults = QUICK if args.quick else FULL
    for name in ("duration", "rounds", "licenses"):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    for name in ("duration", "connections", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection per thread")
    args.scenario_names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in args.scenario_names if n not in SCENARIOS]
    if unknown or not args.scenario_names:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    # The figures are for a node without the quantum extra: the entropy and encrypt
    # rows draw from the OS CSPRNG source (health-tested and conditioned), not the simulator.
    # --server-setting QL_ENTROPY_SOURCES=... measures another source list.
    args.server_settings = dict(DEFAULT_SERVER_SETTINGS)
    for item in args.server_setting:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"QL_[A-Z0-9_]+", name):
            parser.error(f"--server-setting {item!r}: expected QL_NAME=VALUE")
        args.server_settings[name] = value
    try:
        args.license_counts = parse_counts(args.licenses)
    except ValueError as exc:
        parser.error(f"--licenses: {exc}")
    try:
        args.configs = parse_matrix(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _ints(text: str, flag: str) -> list[int]:
    values = []
    for part in text.split(","):
        if not part.strip().isdigit() or int(part) < 1:
            raise ValueError(f"{flag}: {part!r} is not a worker count")
        values.append(int(part))
    return list(dict.fromkeys(values))


def _kinds(text: str, flag: str) -> list[str]:
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in databases.KINDS for k in kinds):
        raise ValueError(f"{flag}: expected a comma list of {', '.join(databases.KINDS)}")
    return list(dict.fromkeys(kinds))


def parse_matrix(args: argparse.Namespace) -> list[Config]:
    """The configurations to measure, grouped by database (each is seeded once)."""
    if args.workers is not None and args.workers_list is not None:
        raise ValueError("--workers and --workers-list exclude each other")
    if args.matrix is not None:
        if args.databases or args.workers or args.workers_list or args.database_url:
            raise ValueError(
                "--matrix names the configurations: leave out --databases, --workers, "
                "--workers-list and --database-url"
            )
        configs = []
        for item in args.matrix.split(","):
            kind, sep, workers = item.strip().partition(":")
            if not sep:
                raise ValueError(f"--matrix: {item!r} is not DATABASE:WORKERS")
            configs += [
                Config(k, w) for k in _kinds(kind, "--matrix") for w in _ints(workers, "--matrix")
            ]
    else:
        if args.workers is not None:
            workers_list = _ints(str(args.workers), "--workers")
        else:
            workers_list = _ints(args.workers_list or "1,2", "--workers-list")
        if args.database_url:
            if args.databases:
                raise ValueError("--database-url and --databases exclude each other")
            kinds = ["url"]
        else:
            kinds = _kinds(args.databases or ",".join(databases.KINDS), "--databases")
        configs = [Config(k, w) for k in kinds for w in workers_list]
    configs = list(dict.fromkeys(configs))
    order = list(dict.fromkeys(c.database for c in configs))
    return sorted(configs, key=lambda c: order.index(c.database))


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


def seed(env: dict[str, str], out_dir: Path, account_id: str, total: int) -> dict[str, Any]:
    """Top the account up to `total` live licenses; bench/seed.py prints its progress."""
    out = out_dir / f"seed-{total}.json"
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
    if response.status_code != request.expect_status and missing_route(
        response.status_code, response.text
    ):
        return f"{ROUTE_NOT_AVAILABLE}: {request.method} {request.path}"
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


@dataclass
class Measured:
    """What one configuration gathered over its sessions (one per stage of the run)."""

    config: Config
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the configuration's own
    row_problems: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """Rows measured by every worker count of a database between two seedings."""

    label: str
    rows: dict[str, str]  # row name -> scenario name
    samples: tuple[Sample, ...] = ()
    licenses: int | None = None  # stored when the stage runs, as bench/seed.py counted


def _scenario_skip(name: str, reason: str) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    return report.skipped(scenario.method, scenario.path, reason)


class Session:
    """One configuration's QuantumLock server and baseline, up for one stage."""

    def __init__(self, args: argparse.Namespace, log_dir: Path, env: dict[str, str]) -> None:
        self.args = args
        self.log_dir = log_dir
        self.env = env
        self.baseline = prepare(BASELINE, None)

    def start(self, servers: list[Server], workers: int) -> dict[str, Any]:
        """Start both servers; their cold starts (the QuantumLock one alone on the machine)."""
        command = [*cli_command(), "serve", "--host", "127.0.0.1", "--port",
                   str(port := free_port()), "--workers", str(workers)]  # fmt: skip
        self.ql = Server("quantumlock", command, self.env, ROOT, port, self.log_dir)
        servers.append(self.ql)
        self.ql.start()
        cold_start = self.ql.wait_ready("/health")
        print(f"quantumlock ready on {self.ql.base_url} after {cold_start:.2f} s", flush=True)
        hello_cmd = [sys.executable, "-m", "uvicorn", "bench.hello_app:app"]
        command = [*hello_cmd, *uvicorn_flags(port := free_port(), workers)]
        self.hello = Server("hello", command, self.env, ROOT, port, self.log_dir)
        servers.append(self.hello)
        self.hello.start()
        hello_cold_start = self.hello.wait_ready("/hello")
        if (problem := preflight(self.hello.base_url, self.baseline)) is not None:
            raise RuntimeError(f"the baseline is broken: {problem}")
        return {
            "cold_start_s": round(cold_start, 3),
            "baseline_cold_start_s": round(hello_cold_start, 3),
        }

    def rss(self) -> dict[str, Any]:
        return {"server": self.ql.rss(), "baseline": self.hello.rss()}

    def _measure(self, name: str, server: Server, request: Request) -> wrk.WrkResult:
        """One recorded run, straight after an unrecorded re-warm of the same endpoint."""
        self._run(name, server, request, REWARM_S, quiet=True)
        return self._run(name, server, request, self.args.duration)

    def _run(
        self, name: str, server: Server, request: Request, seconds: int, quiet: bool = False
    ) -> wrk.WrkResult:
        result = wrk.run(
            server.base_url + request.path,
            request,
            script=self.log_dir / f"{name}.lua",
            duration=seconds,
            connections=self.args.connections,
            threads=self.args.threads,
        )
        if quiet:
            return result
        print(f"  {name:<14} {result.rps:>10,.0f} rps  p50 {result.p50_ms:7.2f} ms  "
              f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}"
              + (f"  mismatched {result.mismatched}" if result.mismatched else ""),
              flush=True)  # fmt: skip
        return result

    def phase(self, rows: dict[str, tuple[Scenario, SetupContext]]) -> dict[str, dict[str, Any]]:
        """Set up, check, warm up and measure some rows, each with its own baseline runs."""
        args, results = self.args, {}
        ready: dict[str, Request] = {}
        for row, (scenario, ctx) in rows.items():
            try:
                request = prepare(scenario, ctx)
            except RouteNotAvailable as exc:
                results[row] = report.skipped(
                    scenario.method, scenario.path, f"{ROUTE_NOT_AVAILABLE}: {exc}"
                )
                continue
            except Exception as exc:  # a broken setup skips its scenario, not the whole run
                results[row] = report.skipped(scenario.method, scenario.path, f"setup: {exc!r}")
                continue
            if (problem := preflight(self.ql.base_url, request)) is not None:
                results[row] = report.skipped(request.method, request.path, problem)
                continue
            ready[row] = request
        for row, result in results.items():
            print(f"  {row:<14} skipped: {result['problems'][0]}", flush=True)
        if not ready:
            return results
        print(f"Warming up ({WARMUP_S} s per endpoint) ...", flush=True)
        self._run("baseline", self.hello, self.baseline, WARMUP_S)
        for row, request in ready.items():
            self._run(row, self.ql, request, WARMUP_S)
        runs: dict[str, list[wrk.WrkResult]] = {row: [] for row in ready}
        paired: dict[str, list[wrk.WrkResult]] = {row: [] for row in ready}
        signed: dict[str, list[dict[str, Any]]] = {
            row: [] for row in ready if rows[row][0].target_signing_ratio is not None
        }
        for round_no in range(args.rounds):
            print(f"Round {round_no + 1}/{args.rounds} ({args.duration} s each) ...", flush=True)
            for row, request in ready.items():
                # Odd rounds go scenario-first, so an order effect cancels out over the rounds.
                baseline_first = round_no % 2 == 0
                if baseline_first:
                    paired[row].append(self._measure("baseline", self.hello, self.baseline))
                runs[row].append(self._measure(row, self.ql, request))
                if not baseline_first:
                    paired[row].append(self._measure("baseline", self.hello, self.baseline))
                if row in signed:  # the raw signing rate, minutes apart at most, same machine
                    signed[row].append(self._sign())
        for row, request in ready.items():
            results[row] = report.summarise(request.method, request.path, runs[row], paired[row])
            if row in signed:
                results[row] |= report.signing_summary(results[row], signed[row])
        return results

    def _sign(self) -> dict[str, Any]:
        """One raw signing run (bench/signing.py) with the machine's steal around it."""
        before = wrk.cpu_jiffies()
        result = signing.run(self.args.duration)
        result["steal_pct"] = wrk.steal_pct(before, wrk.cpu_jiffies())
        print(f"  {'raw signing':<14} {result['licenses_per_s']:>10,.0f} licenses/s "
              f"(one core, cpu share {result['cpu_share']:.2f})", flush=True)  # fmt: skip
        return result


def stages(args: argparse.Namespace) -> tuple[list[str], list[str], list[str]]:
    """The scenarios split into: table-independent, per table size, adding licenses."""
    names = args.scenario_names
    sized = [n for n in names if SCENARIOS[n].per_table_size]
    writers = [n for n in names if SCENARIOS[n].writes_licenses and n not in sized]
    others = [n for n in names if n not in sized and n not in writers]
    return others, sized, writers


def measure_database(
    args: argparse.Namespace,
    tmp: Path,
    servers: list[Server],
    db: databases.Database,
    measured: list[Measured],
) -> list[dict[str, Any]]:
    """Every configuration of one database, stage by stage; the seeding done for them."""
    base = tmp / db.kind
    data_dir = base / "data"
    base.mkdir(parents=True)
    env = server_env(data_dir, db.url, args.server_settings)
    print(f"\n== {db.label}: preparing ({base}) ...", flush=True)
    account_id, api_key = create_account(env)
    others, sized, writers = stages(args)
    seeding: list[dict[str, Any]] = []
    # (seed up to this many first, or None; the stage's label; its rows -> scenarios)
    plan: list[tuple[int | None, str, dict[str, str]]] = []
    if sized:
        for index, count in enumerate(args.license_counts):
            label = count_label(count)
            rows = {n: n for n in others} if index == 0 else {}
            plan.append((count, label, rows | {f"{n}@{label}": n for n in sized}))
        if writers:
            plan.append((None, "writers", {n: n for n in writers}))
    else:
        plan.append((None, "no seeding", {n: n for n in others + writers}))
    licenses: int | None = None
    for count, label, rows in plan:
        samples: tuple[Sample, ...] = ()
        if count is not None:
            print(f"\n== {db.label}: seeding the account up to {count:,} licenses ...", flush=True)
            try:
                seeded = seed(env, base, account_id, count)
            except (RuntimeError, OSError, ValueError) as exc:
                for m in measured:
                    m.rows.update({r: _scenario_skip(n, f"seeding: {exc}") for r, n in rows.items()
                                   if n in sized})  # fmt: skip
                rows = {r: n for r, n in rows.items() if n not in sized}
                label += " (seeding failed)"
            else:
                seeding.append(
                    {k: v for k, v in seeded.items() if k != "samples"} | {"target": count}
                )
                print(
                    f"Seeded {seeded['inserted']:,} licenses in {seeded['seconds']:.1f} s "
                    f"({seeded['rows_per_s']:,.0f} rows/s); {seeded['total']:,} stored",
                    flush=True,
                )
                licenses = int(seeded["total"])
                samples = tuple(Sample(**sample) for sample in seeded["samples"])
                for m in measured:
                    for row, name in rows.items():
                        if name not in sized:
                            continue
                        m.stored[row] = licenses
                        if licenses != count:
                            m.row_problems.setdefault(row, []).append(
                                f"{licenses:,} licenses stored, not {count:,}"
                            )
        if not rows:
            continue
        stage = Stage(label, rows, samples, licenses)
        for m in measured:
            run_stage(args, base, servers, env, (account_id, api_key, data_dir), stage, m)
    return seeding


def run_stage(
    args: argparse.Namespace,
    base: Path,
    servers: list[Server],
    env: dict[str, str],
    account: tuple[str, str, Path],
    stage: Stage,
    m: Measured,
) -> None:
    """One configuration's servers, up for one stage's rows, then stopped."""
    account_id, api_key, data_dir = account
    workers = m.config.workers
    log_dir = base / f"w{workers}-{re.sub(r'[^a-z0-9]+', '-', stage.label.lower())}"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"\n== {m.config.key}, stage {stage.label}: {', '.join(stage.rows)}", flush=True)
    session = Session(args, log_dir, env)
    record: dict[str, Any] = {"stage": stage.label, "licenses": stage.licenses}
    first = len(servers)  # ours are the ones start() appends
    try:
        record |= session.start(servers, workers)
        ctx = SetupContext(api_key=api_key, base_url=session.ql.base_url, data_dir=data_dir,
                           account_id=account_id, samples=stage.samples)  # fmt: skip
        m.rows.update(session.phase({row: (SCENARIOS[n], ctx) for row, n in stage.rows.items()}))
        record["rss_mb"] = session.rss()
    except (RuntimeError, wrk.WrkError) as exc:
        problem = f"stage {stage.label}: {exc}"
        for server in servers[first:]:
            if tail := server.stderr_tail():
                problem += f"\n--- {server.name} stderr (tail) ---\n{tail}"
        print(f"{m.config.key}: {problem}", file=sys.stderr, flush=True)
        m.problems.append(problem)
        record["error"] = str(exc)
        for row, name in stage.rows.items():
            m.rows.setdefault(row, _scenario_skip(name, f"not measured: {exc}"))
        args.keep_tmp = True  # the server logs are the evidence
    finally:
        for server in reversed(servers[first:]):
            server.stop()
        del servers[first:]
    m.sessions.append(record)


def compile_bytecode() -> str:
    """Byte-compile the server's package, as installing its wheel does (pip compiles every
    module). From a source checkout with PYTHONDONTWRITEBYTECODE set (this project's CI and
    dev machines set it), every server start would compile ~110 modules again: 0.5 s of a
    2.3 s cold start on a 2-core VM, that no deployed node pays."""
    import compileall

    import quantumlock

    package = Path(quantumlock.__file__).parent
    if not compileall.compile_dir(package, quiet=1, workers=1):
        raise RuntimeError(f"could not byte-compile {package}")
    return f"{package} byte-compiled before the servers start (as a wheel install does)"


def measure(args: argparse.Namespace, tmp: Path, servers: list[Server]) -> dict[str, Any]:
    machine = machine_info()
    machine["bytecode"] = compile_bytecode()
    started = time.monotonic()
    _, sized, _ = stages(args)
    row_order: list[str] = []
    for name in args.scenario_names:
        if name in sized:
            row_order += [f"{name}@{count_label(c)}" for c in args.license_counts]
        else:
            row_order.append(name)
    by_database: dict[str, list[Measured]] = {}
    for config in args.configs:
        by_database.setdefault(config.database, []).append(Measured(config))
    database_info: dict[str, dict[str, Any]] = {}
    for kind, measured in by_database.items():
        label = databases.LABELS.get(kind) or databases.given(args.database_url).label
        info: dict[str, Any] = {"label": label, "seeding": [], "problems": []}
        database_info[kind] = info
        try:
            db = databases.make(kind, pg_dsn=args.postgres_dsn, url=args.database_url)
        except RuntimeError as exc:
            print(f"\n== {kind}: skipped: {exc}", file=sys.stderr, flush=True)
            info["problems"].append(f"not measured: {exc}")
            continue
        info["label"] = db.label
        try:
            info["seeding"] = measure_database(args, tmp, servers, db, measured)
        except RuntimeError as exc:  # the database could not be prepared
            print(f"\n== {db.label}: failed: {exc}", file=sys.stderr, flush=True)
            info["problems"].append(f"failed: {exc}")
        finally:
            if db.drop is not None:
                try:
                    db.drop()
                except psycopg.Error as exc:
                    info["problems"].append(f"could not drop the database: {exc}")

    configurations: dict[str, dict[str, Any]] = {}
    for kind, measured in by_database.items():
        info = database_info[kind]
        for m in measured:
            scenarios: dict[str, dict[str, Any]] = {}
            for row in row_order:
                name = row.partition("@")[0]
                reason = "; ".join(info["problems"]) or "not measured"
                result = m.rows.get(row) or _scenario_skip(name, reason)
                scenarios[row] = result | {
                    "scenario": name,
                    "licenses_stored": m.stored.get(row),
                    "target_ratio": SCENARIOS[name].target_ratio,
                    "max_p99_ms": SCENARIOS[name].max_p99_ms,
                    "max_p99_growth": SCENARIOS[name].max_p99_growth,
                    "target_signing_ratio": SCENARIOS[name].target_signing_ratio,
                }
            for row, problems in m.row_problems.items():  # fewer licenses than asked for
                if row in scenarios and scenarios[row]["problems"] is not None:
                    scenarios[row]["valid"] = False
                    scenarios[row]["problems"] += problems
            config = {
                "database": kind,
                "database_label": info["label"],
                "workers": m.config.workers,
                "scenarios": scenarios,
                "sessions": m.sessions,
                "problems": info["problems"] + m.problems,
            }
            config["targets"] = report.targets(config, connections=args.connections)
            configurations[m.config.key] = config
    return {
        "machine": machine,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": WARMUP_S,
            "rewarm_s": REWARM_S,
            "connections": args.connections,
            "threads": args.threads,
            "rounds": args.rounds,
            "quick": args.quick,
            "scenarios": args.scenario_names,
            "matrix": [c.key for c in args.configs],
            "access_log": True,
            "server_settings": args.server_settings,
            "licenses": args.license_counts if sized else None,
        },
        "databases": database_info,
        "configurations": configurations,
        "run_seconds": round(time.monotonic() - started, 1),
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
    keep = False
    try:
        result = measure(args, tmp, servers)
        keep = args.keep_tmp  # measure() sets it when a server failed: its logs are evidence
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the servers.", file=sys.stderr)
        keep = args.keep_tmp
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
    return 0 if report.all_valid(result) else 1


if __name__ == "__main__":
    sys.exit(main())
