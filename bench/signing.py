"""The raw signing rate: the ceiling for `generate` on this machine, in this run.

One Python process, one thread (so one core), signs new licenses with the server's own code,
`Draft.issue` (key draw from the OS CSPRNG source, canonical JSON, HMAC-SHA3-512, the license
file signed with Ed25519 and ML-DSA-65), storing nothing: what a generate costs before HTTP,
authentication and the database. `python -m bench.signing --seconds 5` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where measured: bench.run itself never loads the server's code
    from quantumlock.licensing.service import Draft
    from quantumlock.licensing.writer import NewLicense

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


def _draft() -> Draft:
    from quantumlock.accounts.plans import EffectiveLimits, RateLimit
    from quantumlock.core.actor import Actor
    from quantumlock.entropy.service import EntropyService
    from quantumlock.licensing import signing
    from quantumlock.licensing.models import SigningKey
    from quantumlock.licensing.service import Draft

    unlimited = RateLimit(1_000_000, 1_000_000)
    limits = EffectiveLimits(unlimited, unlimited, unlimited, None)
    # Test mode: nothing counted, as storing nothing has no quota to count against.
    return Draft(
        Actor("acc_bench", "test", "key_bench"),
        limits,
        os.urandom(64),
        SigningKey(kid="sk_bench"),
        signing.KeyPair.generate(),
        EntropyService(["cryptographic"]).draw,
        "bench-generate",
        ["core", "reporting"],
        365,
        {"source": "bench.run"},
    )


def _store_nothing(_new: NewLicense) -> None:
    return None


def measure(seconds: float) -> dict[str, Any]:
    draft = _draft()
    for _ in range(20):  # warm-up: imports, first-use costs
        draft.issue(_store_nothing)
    signed, started = 0, time.perf_counter()
    cpu_started = time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            draft.issue(_store_nothing)
        signed += 50
    cpu = time.process_time() - cpu_started
    return {
        "licenses": signed,
        "seconds": round(elapsed, 3),
        "licenses_per_s": round(signed / elapsed, 1),
        # Below 1.0: the process waited for the CPU (other load, steal) part of the time.
        "cpu_share": round(cpu / elapsed, 3),
    }


def run(seconds: float) -> dict[str, Any]:
    """`measure` in a fresh process (the same kind as a server worker), for bench.run."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.signing", "--seconds", str(seconds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.signing exited {done.returncode}: {done.stderr[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signing", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
