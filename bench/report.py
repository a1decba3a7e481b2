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
        "socket_errors": result.socket_errors,
    }


def _medians(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "rps": round(median(r.rps for r in results), 1),
        "p50_ms": round(median(r.p50_ms for r in results), 3),
        "p99_ms": round(median(r.p99_ms for r in results), 3),
        # Counts are summed: one bad round is enough to distrust the median.
        "non_2xx": sum(r.non_2xx for r in results),
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
    lines += [
        "",
        f"- Cold start (spawn `quantumlock serve` to first 200 on /health): "
        f"{report['cold_start_s']:.2f} s (baseline app: {report['baseline_cold_start_s']:.2f} s)",
        _rss_line("quantumlock after the run", report["rss_mb"]["server"]),
        _rss_line("baseline after the run", report["rss_mb"]["baseline"]),
        f"- Settings: {s['duration_s']} s x {s['rounds']} rounds (medians), "
        f"{s['connections']} connections, {s['threads']} wrk threads, "
        f"{s['workers']} server workers, database {s['database']}, access log on",
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
