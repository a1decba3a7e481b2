"""Run wrk with a generated Lua script and parse what it prints."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.scenarios import Request

# wrk's own "Non-2xx or 3xx responses" line only counts status >= 400, so a redirect or a
# 1xx would pass as success. The script counts every status itself, and 2xx answers that
# lack the expected text (`expect`, nil for none); done() prints the totals of all threads
# in lines this module parses.
_COUNTER = """
statuses = {}
non2xx = 0
mismatch = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
  elseif expect and not string.find(body, expect, 1, true) then
    mismatch = mismatch + 1
  end
end

function done(summary, latency, requests)
  local total, mismatched = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("non2xx")
    mismatched = mismatched + thread:get("mismatch")
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("QLBENCH status %d %d\\n", status, count))
    end
  end
  io.write(string.format("QLBENCH non2xx %d\\n", total))
  io.write(string.format("QLBENCH mismatch %d\\n", mismatched))
end
"""

# Several bodies: each thread formats them once, then sends them in turn.
_ROTATE = """
local requests = {}
local next_request = 0

function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format(nil, nil, nil, body)
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"""

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


def lua_string(value: str) -> str:
    """A Lua string literal; decimal escapes keep any byte safe in Lua 5.1 / LuaJIT."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def render_script(request: Request) -> str:
    lines = [f"wrk.method = {lua_string(request.method)}"]
    for name, value in request.headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if request.body is not None:
        lines.append(f"wrk.body = {lua_string(request.body)}")
    expect = "nil" if request.expect_text is None else lua_string(request.expect_text)
    lines.append(f"expect = {expect}")
    script = "\n".join(lines) + "\n" + _COUNTER
    if request.bodies:
        listed = ",\n".join(f"  {lua_string(body)}" for body in request.bodies)
        script += f"\nbodies = {{\n{listed}\n}}\n" + _ROTATE
    return script


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)
    # 2xx answers without the request's expect_text.
    mismatched: int = 0
    # The share of the machine's CPU time that the hypervisor gave to other guests while
    # the run lasted (None off Linux). On a shared VM this moves throughput by tens of
    # percent from one 10 s run to the next, so the report shows it beside each row.
    steal_pct: float | None = None


class WrkError(RuntimeError):
    pass


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNIT_MS[unit]


def parse(output: str) -> WrkResult:
    def need(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise WrkError(f"wrk output has no match for {pattern!r}:\n{output}")
        return match

    p50 = need(rf"^\s+50%\s+{_DURATION}\s*$")
    p99 = need(rf"^\s+99%\s+{_DURATION}\s*$")
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    statuses = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(r"^QLBENCH status (\d+) (\d+)$", output, re.MULTILINE)
    }
    # Our own count is exact; wrk's line is the fallback should the script not have run.
    own = re.search(r"^QLBENCH non2xx (\d+)$", output, re.MULTILINE)
    builtin = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non_2xx = int(own.group(1)) if own else int(builtin.group(1)) if builtin else 0
    mismatched = re.search(r"^QLBENCH mismatch (\d+)$", output, re.MULTILINE)
    return WrkResult(
        rps=float(need(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_ms(p50.group(1), p50.group(2)),
        p99_ms=_ms(p99.group(1), p99.group(2)),
        requests=int(need(r"^\s+(\d+) requests in ").group(1)),
        non_2xx=non_2xx,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        statuses=statuses,
        mismatched=int(mismatched.group(1)) if mismatched else 0,
    )


def cpu_jiffies() -> tuple[int, int] | None:
    """(steal, total) CPU time of all cores since boot, from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is counted
    # in user already, so the total stops at steal.
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def run(
    url: str, request: Request, *, script: Path, duration: float, connections: int, threads: int
) -> WrkResult:
    script.write_text(render_script(request))
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        "--latency",
        f"--script={script}",
        url,
    ]
    before = cpu_jiffies()
    try:
        # A generous bound: wrk stops on its own, this only guards against a wedged run.
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {duration + 30:.0f} s") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    result = parse(done.stdout)
    result.steal_pct = steal_pct(before, cpu_jiffies())
    return result
