"""SP 800-90B health tests: cut-offs, and that the tests fire on stuck and biased streams."""

from __future__ import annotations

import math
import os
import random

import pytest

from quantumlock.entropy.health import (
    APT_WINDOW_BINARY,
    HealthTestFailure,
    HealthTests,
    apt_cutoff,
    rct_cutoff,
)


def bits_to_bytes(bits: str) -> bytes:
    assert len(bits) % 8 == 0
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_rct_cutoff_formula() -> None:
    assert rct_cutoff(1.0) == 41  # 1 + ceil(40 / 1)
    assert rct_cutoff(0.9) == 1 + math.ceil(40 / 0.9) == 46
    assert rct_cutoff(0.8) == 51
    assert rct_cutoff(1.0, alpha_log2=-20) == 21
    with pytest.raises(ValueError):
        rct_cutoff(0)


def test_apt_cutoff_matches_the_nist_table_and_the_float_path() -> None:
    # SP 800-90B §4.4.2, Table 2: binary samples, W = 1024, alpha = 2^-20, H = 1 -> 589.
    assert apt_cutoff(1.0, alpha_log2=-20) == 589
    # The exact integer path (H = 1) and the log-space path agree just below H = 1.
    assert apt_cutoff(1 - 1e-12, alpha_log2=-20) == 589
    assert apt_cutoff(1 - 1e-12) == apt_cutoff(1.0)
    # Less claimed entropy = more bias tolerated before failing.
    assert apt_cutoff(1.0) < apt_cutoff(0.9) < apt_cutoff(0.8) <= APT_WINDOW_BINARY


@pytest.mark.parametrize("h", [1.0, 0.9, 0.8])
def test_apt_cutoff_is_the_smallest_count_meeting_alpha(h: float) -> None:
    w, p, alpha = APT_WINDOW_BINARY, 2.0**-h, 2.0**-40
    c = apt_cutoff(h)

    def tail(k: int) -> float:
        total: float = sum(math.comb(w, i) * p**i * (1 - p) ** (w - i) for i in range(k, w + 1))
        return total

    assert tail(c) <= alpha < tail(c - 1)


def test_random_bits_pass() -> None:
    tests = HealthTests(1.0)
    for _ in range(125):  # 1 Mbit from the OS CSPRNG, in reads of 1000 bytes
        tests.feed(os.urandom(1000))
    assert tests.samples == 1_000_000 and tests.failures == 0


def test_stuck_stream_fails_the_repetition_count_test() -> None:
    with pytest.raises(HealthTestFailure, match="repetition count"):
        HealthTests(1.0).feed(bytes(64))
    with pytest.raises(HealthTestFailure, match="repetition count"):
        HealthTests(0.9).feed(b"\xff" * 64)


def test_repetition_count_cutoff_is_exact_and_spans_reads() -> None:
    cutoff = rct_cutoff(1.0)
    rng = random.Random(1)

    def noise(n: int) -> str:
        # alternating bits: no runs, and an adaptive-proportion count of exactly W/2
        start = rng.choice("01")
        other = "1" if start == "0" else "0"
        return (start + other) * (n // 2)

    # A run of cutoff - 1 passes, split over two reads.
    run = "1" * (cutoff - 1)
    bits = noise(40) + "0" + run + "0" + noise(38)
    assert len(bits) % 8 == 0
    tests = HealthTests(1.0)
    tests.feed(bits_to_bytes(bits[:48]))
    tests.feed(bits_to_bytes(bits[48:]))
    # A run of exactly cutoff fails, also when the reads split it.
    bits = "01" * 20 + "0" + "1" * cutoff + "0" + "10" * 19
    bits += "0" * (-len(bits) % 8)
    tests = HealthTests(1.0)
    with pytest.raises(HealthTestFailure, match="repetition count"):
        tests.feed(bits_to_bytes(bits[:48]))
        tests.feed(bits_to_bytes(bits[48:]))
    # ... and when the run covers whole reads in between.
    tests = HealthTests(1.0)
    tests.feed(b"\x55\x55\x55\x57")  # ends with three 1s
    tests.feed(b"\xff\xff\xff")  # 24 more: 27 < 41
    with pytest.raises(HealthTestFailure, match="repetition count"):
        tests.feed(b"\xff\xfe")  # 15 more: 42 >= 41


@pytest.mark.parametrize("p_one", [0.9, 0.7])
def test_biased_stream_fails_the_adaptive_proportion_test(p_one: float) -> None:
    rng = random.Random(7)
    # Short runs only, so the repetition count test cannot be what fires.
    bits: list[str] = []
    while len(bits) < 4 * APT_WINDOW_BINARY:
        bit = "1" if rng.random() < p_one else "0"
        if bits[-30:] == [bit] * 30:
            bit = "0" if bit == "1" else "1"
        bits.append(bit)
    data = bits_to_bytes("".join(bits))
    with pytest.raises(HealthTestFailure, match="adaptive proportion"):
        HealthTests(1.0).feed(data)


def test_adaptive_proportion_window_spans_reads() -> None:
    tests = HealthTests(1.0)
    # 0x7d = 01111101: 6 of 8 bits are 1, runs of five; window reference is the first bit 0.
    # Counting 0s: 2 per byte -> 256 per window, under the cutoff; no failure.
    for _ in range(16):
        tests.feed(b"\x7d" * 64)
    # Reference 1 (0xfd = 11111101): 7 of 8 are 1 -> 896 per window >= 625, and the test
    # fires inside the window even though each read is only 16 bytes.
    tests = HealthTests(1.0)
    with pytest.raises(HealthTestFailure, match="adaptive proportion"):
        for _ in range(8):
            tests.feed(b"\xfd" * 16)
    assert tests.failures == 1
