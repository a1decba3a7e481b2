"""Summaries of the rounds, and the latest.json / latest.md files."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from statistics import median
from typing import Any

from bench.scenarios import ROUTE_NOT_AVAILABLE
from bench.wrk import WrkResult

# Above this much CPU steal in any of a row's runs, the report says so under the table.
STEAL_NOTE_PCT = 5


def _figures(result: WrkResult) -> dict[str, Any]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "requests": result.requests,
        "non_2xx": result.non_2xx,
        "mismatched": result.mismatched,
        "socket_errors": result.socket_errors,
        "steal_pct": result.steal_pct,
    }


def _most_steal(results: list[WrkResult]) -> float | None:
    figures = [r.steal_pct for r in results if r.steal_pct is not None]
    return max(figures) if figures else None


def _medians(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "rps": round(median(r.rps for r in results), 1),
        "p50_ms": round(median(r.p50_ms for r in results), 3),
        "p99_ms": round(median(r.p99_ms for r in results), 3),
        # Counts are summed: one bad round is enough to distrust the median.
        "non_2xx": sum(r.non_2xx for r in results),
        "mismatched": sum(r.mismatched for r in results),
        "socket_errors": sum(r.socket_errors for r in results),
    }


def _problems(results: list[WrkResult]) -> list[str]:
    """One line per kind of problem, totalled over the rounds."""
    statuses: Counter[int] = Counter()
    for r in results:
        statuses.update(r.statuses)
    found = []
    if non_2xx := sum(r.non_2xx for r in results):
        detail = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
        found.append(f"{non_2xx} non-2xx responses over {len(results)} rounds ({detail})")
    if mismatched := sum(r.mismatched for r in results):
        found.append(
            f"{mismatched} 2xx responses without the expected content over {len(results)} rounds"
        )
    if errors := sum(r.socket_errors for r in results):
        found.append(f"{errors} socket errors over {len(results)} rounds")
    if any(r.requests == 0 for r in results):
        found.append("a round completed no requests")
    return found


def summarise(
    method: str, path: str, runs: list[WrkResult], baselines: list[WrkResult]
) -> dict[str, Any]:
    """Medians over rounds of a scenario and of the baseline runs paired with it."""
    problems = _problems(runs) + [f"baseline: {p}" for p in _problems(baselines)]
    summary = _medians(runs)
    baseline = _medians(baselines)
    return {
        "method": method,
        "path": path,
        "valid": not problems,
        "problems": problems,
        **summary,
        "ratio_rps": round(summary["rps"] / baseline["rps"], 3) if baseline["rps"] else None,
        # Over every recorded run of the row, the scenario's and its baseline's.
        "steal_pct_max": _most_steal(runs + baselines),
        "baseline": baseline,
        "rounds": [
            {"scenario": _figures(s), "baseline": _figures(b)}
            for s, b in zip(runs, baselines, strict=True)
        ],
    }


def signing_summary(row: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The raw signing runs of a row's rounds (bench/signing.py): their median rate, and
    the row's rps over it."""
    rate = round(median(r["licenses_per_s"] for r in runs), 1)
    steal = [r["steal_pct"] for r in runs if r.get("steal_pct") is not None]
    return {
        "signing": {
            "licenses_per_s": rate,
            "cpu_share": round(median(r["cpu_share"] for r in runs), 3),
            "steal_pct_max": max(steal) if steal else None,
            "rounds": runs,
        },
        "ratio_signing": round(row["rps"] / rate, 3) if rate and row.get("rps") else None,
    }


def skipped(method: str, path: str, reason: str) -> dict[str, Any]:
    """A row that was not measured. A route the server does not have (yet) is `unavailable`:
    shown as skipped, and no failure of the run; any other reason makes the row invalid."""
    empty = dict.fromkeys(("rps", "p50_ms", "p99_ms", "non_2xx", "ratio_rps", "baseline"))
    return {"method": method, "path": path, "valid": False, "problems": [reason],
            "unavailable": reason.startswith(ROUTE_NOT_AVAILABLE), **empty}  # fmt: skip


# The issue states these for one worker at 64 connections; other configurations are
# checked against the same numbers, and said to be informational.
ISSUE_WORKERS = 1
ISSUE_CONNECTIONS = 64
MAX_RSS_PER_WORKER_MB = 150.0
MAX_COLD_START_S = 2.0


def worker_rss(rss: dict[str, Any]) -> list[float]:
    """RSS of each process that serves requests: the workers, or the main process alone
    when uvicorn runs a single worker in it."""
    if rss.get("workers_mb"):
        return [float(w) for w in rss["workers_mb"]]
    return [] if rss.get("main_mb") is None else [float(rss["main_mb"])]


def _check(check: str, value: float | None, target: str, met: bool | None, note: str | None
           ) -> dict[str, Any]:  # fmt: skip
    return {"check": check, "value": value, "target": target, "met": met,
            "applies": note is None, "note": note}  # fmt: skip


def targets(config: dict[str, Any], *, connections: int) -> list[dict[str, Any]]:
    """The issue's targets for one configuration. `met` is None when a figure is missing
    or invalid; `applies` is False where the issue does not set the target for this
    configuration (it is still checked, and shown as informational)."""
    rows: dict[str, dict[str, Any]] = config["scenarios"]
    issue_setup = config["workers"] == ISSUE_WORKERS and connections == ISSUE_CONNECTIONS
    setup_note = (
        None
        if issue_setup
        else f"informational: the issue sets it for {ISSUE_WORKERS} worker "
        f"at {ISSUE_CONNECTIONS} connections"
    )
    found: list[dict[str, Any]] = []
    for name, row in rows.items():
        if row.get("unavailable"):
            continue
        if (ratio_target := row.get("target_ratio")) is not None:
            ratio = row.get("ratio_rps")
            met = None if ratio is None or not row["valid"] else ratio >= ratio_target
            found.append(_check(f"{name} rps / baseline rps", ratio, f">= {ratio_target}",
                                met, setup_note))  # fmt: skip
        if (signing_target := row.get("target_signing_ratio")) is not None:
            ratio = row.get("ratio_signing")
            met = None if ratio is None or not row["valid"] else ratio >= signing_target
            found.append(_check(f"{name} rps / raw signing rate", ratio, f">= {signing_target}",
                                met, setup_note))  # fmt: skip
        if (p99_limit := row.get("max_p99_ms")) is not None:
            p99 = row.get("p99_ms")
            met = None if p99 is None or not row["valid"] else p99 <= p99_limit
            found.append(_check(f"{name} p99 ms", p99, f"<= {p99_limit:g}", met, setup_note))
    families: dict[str, list[str]] = {}
    for name, row in rows.items():
        if row.get("max_p99_growth") is not None and "@" in name:
            families.setdefault(row["scenario"], []).append(name)
    for names in families.values():
        if len(names) < 2:
            continue
        # Row order is the size order (--licenses is sorted).
        small, large = rows[names[0]], rows[names[-1]]
        growth_target = large["max_p99_growth"]
        value = None
        if small.get("p99_ms") and large.get("p99_ms") is not None:
            value = round(large["p99_ms"] / small["p99_ms"], 3)
        valid = small["valid"] and large["valid"]
        sizes = (names[0].partition("@")[2], names[-1].partition("@")[2])
        note = None if sizes == ("1k", "1m") else "informational: the issue compares 1m with 1k"
        found.append(_check(f"p99 {names[-1]} / p99 {names[0]}", value, f"<= {growth_target}",
                            None if value is None or not valid else value <= growth_target,
                            note))  # fmt: skip
    sessions = [s for s in config["sessions"] if "rss_mb" in s]
    per_worker = [mb for s in sessions for mb in worker_rss(s["rss_mb"]["server"])]
    rss = max(per_worker) if per_worker else None
    found.append(_check("RSS per worker MB (largest, after any stage)", rss,
                        f"<= {MAX_RSS_PER_WORKER_MB:g}",
                        None if rss is None else rss <= MAX_RSS_PER_WORKER_MB, None))  # fmt: skip
    starts = [s["cold_start_s"] for s in config["sessions"] if "cold_start_s" in s]
    cold = max(starts) if starts else None
    found.append(_check("cold start s (slowest start)", cold, f"<= {MAX_COLD_START_S:g}",
                        None if cold is None else cold <= MAX_COLD_START_S, None))  # fmt: skip
    return found


def all_valid(report: dict[str, Any]) -> bool:
    """Every row measured cleanly (or its route is not on the server yet), nothing failed."""
    for config in report["configurations"].values():
        if config["problems"]:
            return False
        for row in config["scenarios"].values():
            if not row["valid"] and not row.get("unavailable"):
                return False
    return not any(db["problems"] for db in report["databases"].values())


def _num(value: Any, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rss_parts(rss: dict[str, Any]) -> str:
    parts = [f"main {_num(rss.get('main_mb'), 1)}"]
    if workers := rss.get("workers_mb"):
        parts.append(f"workers {', '.join(_num(w, 1) for w in workers)}")
    if helpers := rss.get("helpers_mb"):
        parts.append(f"resource tracker {', '.join(_num(h, 1) for h in helpers)}")
    return f"{_num(rss.get('total_mb'), 1)} MB in all ({'; '.join(parts)})"


def _verdict(check: dict[str, Any]) -> str:
    verdict = {True: "met", False: "NOT met", None: "no valid figure"}[check["met"]]
    return verdict + (f" ({check['note']})" if check.get("note") else "")


def _stage_name(session: dict[str, Any]) -> str:
    stored = session.get("licenses")
    suffix = "" if stored is None else f", {stored:,} licenses stored"
    return f"stage {session['stage']}{suffix}"


def _config_section(key: str, config: dict[str, Any]) -> list[str]:
    workers = config["workers"]
    lines = [f"## {key}: {config['database_label']}, {workers} worker{'s' * (workers > 1)}", ""]
    lines += [
        "| scenario | rps | p50 ms | p99 ms | baseline rps | baseline p50 | baseline p99 | ratio "
        "| vs raw signing | steal % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    invalid, skipped_notes, stolen = [], [], []
    for name, row in config["scenarios"].items():
        if row.get("unavailable"):
            label = f"{name} (skipped: route not available)"
            skipped_notes += [f"- {name}: {problem}" for problem in row["problems"]]
        elif not row["valid"]:
            label = f"{name} (INVALID)"
            invalid += [f"- {name}: {problem}" for problem in row["problems"]]
        else:
            label = name
        if sign := row.get("signing"):
            # The ceiling of a writing row: licenses one core signs per second, no HTTP, no DB.
            lines.append(
                f"| raw signing (1 core, for {name}) | {_num(sign['licenses_per_s'], 0)} "
                f"| — | — | — | — | — | — | 1.00 | {_num(sign['steal_pct_max'], 1)} |"
            )
        base = row["baseline"] or {}
        cells = [
            label,
            _num(row.get("rps"), 0),
            _num(row.get("p50_ms"), 2),
            _num(row.get("p99_ms"), 2),
            _num(base.get("rps"), 0),
            _num(base.get("p50_ms"), 2),
            _num(base.get("p99_ms"), 2),
            _num(row.get("ratio_rps"), 2),
            _num(row.get("ratio_signing"), 2),
            _num(row.get("steal_pct_max"), 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if (row.get("steal_pct_max") or 0) > STEAL_NOTE_PCT:
            stolen.append(f"{name} ({row['steal_pct_max']:.1f}%)")
    lines.append("")
    if stolen:
        lines += [
            f"- Measured while the hypervisor took more than {STEAL_NOTE_PCT}% of the CPU "
            f"(steal, in at least one of the row's runs): {', '.join(stolen)}. Such a run can "
            "be tens of percent slower than its neighbours; the ratio pairs it with baseline "
            "runs of other seconds, so compare these rows with care.",
        ]
    sessions = config["sessions"]
    measured = [s for s in sessions if "rss_mb" in s]
    per_worker = [mb for s in measured for mb in worker_rss(s["rss_mb"]["server"])]
    lines.append(
        f"- RSS per worker: {_num(max(per_worker) if per_worker else None, 1)} MB at most"
        + "".join(
            f"; after {_stage_name(s)}: {_rss_parts(s['rss_mb']['server'])}" for s in measured
        )
    )
    lines.append(
        "- RSS baseline app: "
        + (
            "; ".join(
                f"after {_stage_name(s)}: {_rss_parts(s['rss_mb']['baseline'])}" for s in measured
            )
            or "—"
        )
    )
    started = [s for s in sessions if "cold_start_s" in s]
    lines.append(
        "- Cold start (spawn `quantumlock serve` to first 200 on /health): "
        + (
            "; ".join(
                f"{s['cold_start_s']:.2f} s before {_stage_name(s)} "
                f"(baseline app {s['baseline_cold_start_s']:.2f} s)"
                for s in started
            )
            or "—"
        )
    )
    lines += ["", "Targets:"]
    for t in config["targets"]:
        lines.append(f"- {t['check']}: {_num(t['value'], 2)} (target {t['target']}): {_verdict(t)}")
    if config["problems"]:
        lines += ["", "Configuration problems (details in latest.json):"]
        lines += [f"- {problem.splitlines()[0]}" for problem in config["problems"]]
    if invalid:
        lines += ["", "Invalid results (do not quote them):", *invalid]
    if skipped_notes:
        lines += ["", "Skipped (not on this server yet):", *skipped_notes]
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    checks = [
        (key, t) for key, config in report["configurations"].items() for t in config["targets"]
    ]
    rounds = f"{s['rounds']} round{'s' * (s['rounds'] > 1)}"
    lines = [
        f"{len(report['configurations'])} configurations ({', '.join(s['matrix'])}), "
        f"{s['duration_s']} s x {rounds} (medians) per row"
        + (f", each run just after a {s['rewarm_s']} s re-warm" if s.get("rewarm_s") else "")
        + (" (--quick: a smoke run, not a measurement to quote)" if s.get("quick") else "")
        + f", {s['connections']} connections, {s['threads']} wrk threads, access log on; "
        f"the run took {report['run_seconds'] / 60:.1f} min.",
    ]
    for applies, title in (
        (True, "Targets (issues 6 and 17)"),
        (False, "Informational checks (the same numbers where the issue does not set them)"),
    ):
        picked = [(k, t) for k, t in checks if t["applies"] is applies]
        if not picked:
            continue
        tally = Counter(t["met"] for _, t in picked)
        lines += ["", f"{title}: {tally[True]} met, {tally[False]} NOT met, "
                      f"{tally[None]} without a valid figure."]  # fmt: skip
        misses = [(k, t) for k, t in picked if t["met"] is not True]
        if misses:
            lines.append("")
        for key, t in misses:
            lines.append(f"- {key}: {t['check']}: {_num(t['value'], 2)} "
                         f"(target {t['target']}): {_verdict(t)}")  # fmt: skip
    lines += ["", "Databases (each made fresh and seeded once for all its worker counts):"]
    for kind, db in report["databases"].items():
        seeded = "; ".join(
            f"up to {x['target']:,} licenses: {x['inserted']:,} rows in {x['seconds']:.1f} s "
            f"({x['rows_per_s']:,.0f} rows/s), {x['total']:,} stored"
            for x in db["seeding"]
        )
        lines.append(f"- {kind}: {db['label']}" + (f"; seeded {seeded}" if seeded else ""))
        lines += [f"  - problem: {p.splitlines()[0]}" for p in db["problems"]]
    lines += [""]
    for key, config in report["configurations"].items():
        lines += _config_section(key, config)
    lines += [
        "## Run",
        "",
        f"- Licenses per size: {', '.join(f'{n:,}' for n in s['licenses'] or [])}; "
        "server settings: "
        + (", ".join(f"{k}={v}" for k, v in s["server_settings"].items()) or "defaults"),
        f"- Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"{m['date']}, commit {m['git_commit']}, load average "
        f"{m['load_avg_at_start'][0]:.2f} at start, {m['load_avg_at_end'][0]:.2f} at end",
    ]
    steal = [
        run["steal_pct"]
        for config in report["configurations"].values()
        for row in config["scenarios"].values()
        for pair in row.get("rounds", [])
        for run in pair.values()
        if run.get("steal_pct") is not None
    ]
    if steal:
        lines.append(
            f"- CPU steal (the hypervisor's share) over the {len(steal)} recorded runs: "
            f"median {median(steal):.1f}%, at most {max(steal):.1f}%"
        )
    if m.get("bytecode"):
        lines.append(f"- Bytecode: {m['bytecode']}")
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    # A reader (or git) never sees half a file; *.tmp is git-ignored should we die midway.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(out: Path, report: dict[str, Any]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(report)
    _write_atomic(out / "latest.json", json.dumps(report, indent=2) + "\n")
    _write_atomic(out / "latest.md", "# QuantumLock benchmark\n\n" + table)
    return table
