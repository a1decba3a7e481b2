"""Summaries of the rounds, and the latest.json / latest.md files."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from statistics import median
from typing import Any

from bench.wrk import WrkResult


def _figures(result: WrkResult) -> dict[str, Any]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "requests": result.requests,
        "non_2xx": result.non_2xx,
        "mismatched": result.mismatched,
        "socket_errors": result.socket_errors,
    }


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
        "baseline": baseline,
        "rounds": [
            {"scenario": _figures(s), "baseline": _figures(b)}
            for s, b in zip(runs, baselines, strict=True)
        ],
    }


def skipped(method: str, path: str, reason: str) -> dict[str, Any]:
    empty = dict.fromkeys(("rps", "p50_ms", "p99_ms", "non_2xx", "ratio_rps", "baseline"))
    return {"method": method, "path": path, "valid": False, "problems": [reason], **empty}


def targets(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets: rps ratio per row, and p99 growth from the smallest table size
    to the largest per scenario. `met` is None when a figure is missing or invalid."""
    found: list[dict[str, Any]] = []
    for name, row in rows.items():
        if (target := row.get("target_ratio")) is not None:
            ratio = row.get("ratio_rps")
            met = None if ratio is None or not row["valid"] else ratio >= target
            found.append({"check": f"{name} rps / baseline rps", "value": ratio,
                          "target": f">= {target}", "met": met})  # fmt: skip
    families: dict[str, list[str]] = {}
    for name, row in rows.items():
        if row.get("max_p99_growth") is not None and row.get("licenses_stored") is not None:
            families.setdefault(row["scenario"], []).append(name)
    for names in families.values():
        if len(names) < 2:
            continue
        ordered = sorted(names, key=lambda n: rows[n]["licenses_stored"])
        small, large = rows[ordered[0]], rows[ordered[-1]]
        target = large["max_p99_growth"]
        value = None
        if small.get("p99_ms") and large.get("p99_ms") is not None:
            value = round(large["p99_ms"] / small["p99_ms"], 3)
        valid = small["valid"] and large["valid"]
        found.append({"check": f"p99 {ordered[-1]} / p99 {ordered[0]}", "value": value,
                      "target": f"<= {target}",
                      "met": None if value is None or not valid else value <= target})  # fmt: skip
    return found


def _num(value: Any, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rss_line(label: str, rss: dict[str, Any]) -> str:
    parts = [f"main {_num(rss.get('main_mb'), 1)}"]
    if workers := rss.get("workers_mb"):
        parts.append(f"workers {', '.join(_num(w, 1) for w in workers)}")
    if helpers := rss.get("helpers_mb"):
        parts.append(f"resource tracker {', '.join(_num(h, 1) for h in helpers)}")
    return f"- RSS {label}: {_num(rss.get('total_mb'), 1)} MB ({'; '.join(parts)})"


def markdown(report: dict[str, Any]) -> str:
    header = (
        "| scenario | rps | p50 ms | p99 ms | baseline rps | baseline p50 | baseline p99 | ratio |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for name, row in report["scenarios"].items():
        label = name if row["valid"] else f"{name} (INVALID)"
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
        ]
        lines.append("| " + " | ".join(cells) + " |")
        notes += [f"- {name}: {problem}" for problem in row["problems"]]
    s, m = report["settings"], report["machine"]
    if report.get("targets"):
        lines += ["", "Targets (from the issue):"]
        for t in report["targets"]:
            verdict = {True: "met", False: "NOT met", None: "no valid figure"}[t["met"]]
            lines.append(f"- {t['check']}: {_num(t['value'], 2)} (target {t['target']}): {verdict}")
    lines += [""]
    for seeded in report.get("seeding", []):
        lines.append(
            f"- Seeded (bench/seed.py) up to {seeded['target']:,} licenses: "
            f"{seeded['inserted']:,} rows in {seeded['seconds']:.1f} s "
            f"({seeded['rows_per_s']:,.0f} rows/s), {seeded['total']:,} stored"
        )
    lines += [
        f"- Cold start (spawn `quantumlock serve` to first 200 on /health): "
        f"{report['cold_start_s']:.2f} s (baseline app: {report['baseline_cold_start_s']:.2f} s)",
        _rss_line("quantumlock after the run", report["rss_mb"]["server"]),
        _rss_line("baseline after the run", report["rss_mb"]["baseline"]),
        f"- Settings: {s['duration_s']} s x {s['rounds']} rounds (medians), "
        f"{s['connections']} connections, {s['threads']} wrk threads, "
        f"{s['workers']} server workers, database {s['database']}, access log on"
        + (
            f"; per-size rows share one server and database, topped up between sizes "
            f"({', '.join(f'{n:,}' for n in s['licenses'])} licenses)"
            if s.get("licenses")
            else ""
        )
        + (
            "; server settings: " + ", ".join(f"{k}={v}" for k, v in s["server_settings"].items())
            if s.get("server_settings")
            else ""
        ),
        f"- Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"{m['date']}, commit {m['git_commit']}, load average "
        f"{m['load_avg_at_start'][0]:.2f} at start, {m['load_avg_at_end'][0]:.2f} at end",
    ]
    if notes:
        lines += ["", "Invalid results (do not quote them):", *notes]
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
