"""Statistical report on 1 Mbit from each available entropy source, raw AND conditioned.

`make entropy-report` (installs `ent` if missing). Raw is what judges a source: conditioned
output passes any statistical test by construction (SHA3-512 with OS CSPRNG input), so a
good conditioned figure says nothing about the source. Tools:

* `ent` (Debian package): Shannon entropy per byte, chi-square and its probability, mean,
  Monte Carlo pi, serial correlation.
* SP 800-22 §2.1 frequency (monobit) and §2.3 runs tests, closed-form p-values (erfc).
  No maintained SP 800-22 package is on PyPI (the candidates' last releases are from
  2019-2021), so only these two, which need no special functions beyond erfc.
* Our SP 800-90B health tests (RCT/APT) on the raw stream.

qcos_api appears only as the local FAKE test service (os.urandom behind HTTP), labelled
as such: no real QCOS endpoint is reachable here.
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from tests.fakes.qcos_entropy import FAKE_KEY, running_fake_qcos

from quantumlock.entropy.health import HealthTestFailure, HealthTests
from quantumlock.entropy.service import EntropyService
from quantumlock.entropy.sources import (
    CryptographicSource,
    QcosApiSource,
    QiskitLocalSource,
    qiskit_installed,
)
from quantumlock.entropy.types import EntropySource

NBYTES = 125_000  # 1 Mbit
RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    label: str
    kind: str  # raw | conditioned
    seconds: float
    ent: dict[str, str]
    monobit_p: float
    runs_p: float
    health: str


def monobit_p(bits: str) -> float:
    """SP 800-22 §2.1: p = erfc(|S_n| / sqrt(2n)), S_n = #1 - #0."""
    n = len(bits)
    s = 2 * bits.count("1") - n
    return math.erfc(abs(s) / math.sqrt(2 * n))


def runs_p(bits: str) -> float:
    """SP 800-22 §2.3 (with its frequency prerequisite)."""
    n = len(bits)
    pi = bits.count("1") / n
    if abs(pi - 0.5) >= 2 / math.sqrt(n):
        return 0.0
    # Transitions: occurrences of "01" cannot overlap each other, nor can "10".
    v = 1 + bits.count("01") + bits.count("10")
    return math.erfc(abs(v - 2 * n * pi * (1 - pi)) / (2 * math.sqrt(2 * n) * pi * (1 - pi)))


def run_ent(data: bytes) -> dict[str, str]:
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["ent", f.name], capture_output=True, text=True, check=True).stdout

    def grab(pattern: str) -> str:
        m = re.search(pattern, out)
        return m.group(1) if m else "?"

    return {
        "entropy": grab(r"Entropy = ([\d.]+) bits per byte"),
        "chi2": grab(r"Chi square distribution for \d+ samples is ([\d.]+)"),
        "chi2_p": grab(r"would exceed this value (?:less than |more than )?([\d.]+) percent"),
        "mean": grab(r"Arithmetic mean value of data bytes is ([\d.]+)"),
        "pi_err": grab(r"\(error ([\d.]+) percent\)"),
        "serial": grab(r"Serial correlation coefficient is (-?[\d.]+)"),
    }


def health_of(source: EntropySource, data: bytes) -> str:
    tests = HealthTests(source.min_entropy)
    try:
        for i in range(0, len(data), 4096):
            tests.feed(data[i : i + 4096])
    except HealthTestFailure as exc:
        return f"FAILED after {tests.samples} bits: {exc}"
    return (
        f"passed (RCT C={tests.rct_cutoff}, APT c={tests.apt_cutoff}/1024, H={source.min_entropy})"
    )


def row(label: str, kind: str, source: EntropySource, data: bytes, seconds: float) -> Row:
    bits = format(int.from_bytes(data, "big"), f"0{len(data) * 8}b")
    return Row(
        label,
        kind,
        seconds,
        run_ent(data),
        monobit_p(bits),
        runs_p(bits),
        health_of(source, data) if kind == "raw" else "(after conditioning: n/a)",
    )


def measure(label: str, source: EntropySource) -> list[Row]:
    started = time.perf_counter()
    raw = b""
    while len(raw) < NBYTES:  # in reads of 32 KiB, like a busy service would
        raw += source.read(min(32_768, NBYTES - len(raw))).data
    raw_s = time.perf_counter() - started
    service = EntropyService([source])
    started = time.perf_counter()
    cond = b""
    while len(cond) < NBYTES:
        cond += service.draw(min(16_384, NBYTES - len(cond))).data
    cond_s = time.perf_counter() - started
    return [row(label, "raw", source, raw, raw_s), row(label, "conditioned", source, cond, cond_s)]


def package_versions(
    dists: tuple[str, ...] = ("qiskit", "qiskit-aer", "cryptography"),
) -> list[str]:
    """ "name version" (or "name not installed") for the report headers."""
    versions = []
    for dist in dists:
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} not installed")
    return versions


def render(rows: list[Row], notes: list[str]) -> str:
    versions = package_versions()
    ent_version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "ent"], capture_output=True, text=True
    ).stdout
    lines = [
        "# Entropy report: 1 Mbit (125,000 bytes) per source, raw and conditioned",
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `make entropy-report`"
        f" on {platform.machine()} {platform.system()}, Python {platform.python_version()},"
        f" {', '.join(versions)}, ent {ent_version or '?'}.",
        "",
        "**Raw** is what the source delivered before conditioning and is what judges it.",
        "**Conditioned** is what the service hands out (SHA3-512 over 2x raw bytes + 64 bytes"
        " of os.urandom per 64-byte block): it looks random whatever the source does,",
        " so its figures say nothing about the source.",
        "",
        "Ideal values: entropy 8.0 bits/byte; chi-square p between 10% and 90% (ent's"
        " percentage; < 1% or > 99% is suspect); mean 127.5; Monte Carlo pi error small;"
        " serial correlation about 0; SP 800-22 p-values >= 0.01 pass.",
        "",
        "| source | stream | time s | entropy b/B | chi2 | chi2 p % | mean | pi err % |"
        " serial corr | 800-22 monobit p | 800-22 runs p | 800-90B health (raw) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e = r.ent
        lines.append(
            f"| {r.label} | {r.kind} | {r.seconds:.2f} | {e['entropy']} | {e['chi2']} |"
            f" {e['chi2_p']} | {e['mean']} | {e['pi_err']} | {e['serial']} |"
            f" {r.monobit_p:.4f} | {r.runs_p:.4f} | {r.health} |"
        )
    lines += ["", *notes, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "entropy-report.md")
    args = parser.parse_args()
    if shutil.which("ent") is None:
        raise SystemExit("`ent` is not installed: run `make entropy-report`")
    notes = [
        "Notes:",
        "",
        "- `qiskit_local` raw bits come from Aer's simulator: a pseudo-random generator seeded"
        " with 63 bits of os.urandom per run. Passing these tests shows the circuit and the"
        " bit extraction are unbiased, not that the bits are quantum; it is reported as"
        " QUANTUM_SIMULATED and never `quantum_verified`.",
    ]
    rows = measure("cryptographic", CryptographicSource())
    if qiskit_installed():
        rows += measure("qiskit_local (Aer, 16 qubits)", QiskitLocalSource(16))
    else:
        notes.append("- qiskit_local: not installed here (`pip install '.[quantum]'`).")
    with running_fake_qcos() as fake:
        rows += measure("qcos_api **FAKE** (local test server)", QcosApiSource(fake.url, FAKE_KEY))
    notes.append(
        "- qcos_api **FAKE**: no real QCOS service is reachable here; these rows come from the"
        " local fake used by the tests (os.urandom served over HTTP), so they measure only"
        " the client path (HTTP, parsing, health tests, conditioning), not a quantum device."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = render(rows, notes)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
