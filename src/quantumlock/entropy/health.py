"""NIST SP 800-90B §4.4 health tests on a source's raw bits.

Every source's raw output is treated as a stream of *binary* samples (one bit each) and
runs through the two approved continuous tests:

* Repetition Count Test (§4.4.1): fail when one value repeats `C` times in a row,
  `C = 1 + ceil(-log2(alpha) / H)`.
* Adaptive Proportion Test (§4.4.2): non-overlapping windows of `W = 1024` binary samples;
  fail when the window's first sample occurs `c` or more times in its window, `c` being the
  smallest count with `P[Binomial(W, 2^-H) >= c] <= alpha`, computed here (exactly with
  integers for `H = 1`, in log space otherwise; no scipy).

`H` is the min-entropy per bit that a source claims (see each source); `alpha` is the false
positive probability per sample. SP 800-90B recommends `2^-20 >= alpha >= 2^-40`. We use
`2^-40`: with one-bit samples, `2^-20` would flag a perfect source about once every two
million bits (a 21-bit run, for `H = 1`), i.e. every few seconds of `cryptographic` traffic;
at `2^-40` a perfect source trips once in ~10^12 bits, while a stuck source still fails
within 41-51 bits and a source with a 65/35 bias fails its first adaptive-proportion window.

The start-up test (§4.3) runs both tests over `STARTUP_BITS` (>= 1024) fresh samples with new
state; those samples are discarded. The tests are streaming: a run or a window may span two
reads, which is why one `HealthTests` object follows one source's whole stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA_LOG2 = -40  # alpha = 2^-40 (see above)
APT_WINDOW_BINARY = 1024  # SP 800-90B §4.4.2 window for binary samples
APT_WINDOW_NON_BINARY = 512
STARTUP_BITS = 4 * APT_WINDOW_BINARY  # four full windows; §4.3 asks for at least 1024


def rct_cutoff(h: float, alpha_log2: int = ALPHA_LOG2) -> int:
    """Repetition Count Test cutoff: `C = 1 + ceil(-log2(alpha) / H)`."""
    if not 0 < h <= 1:
        raise ValueError("claimed min-entropy per binary sample must be in (0, 1]")
    return 1 + math.ceil(-alpha_log2 / h)


def apt_cutoff(h: float, window: int = APT_WINDOW_BINARY, alpha_log2: int = ALPHA_LOG2) -> int:
    """Smallest `c` with `P[Binomial(window, 2^-h) >= c] <= 2^alpha_log2`."""
    if h <= 0:
        raise ValueError("claimed min-entropy must be positive")
    if h == 1:
        # p = 1/2: P[X >= c] = sum_{k>=c} comb(W, k) / 2^W <= 2^a  <=>  tail * 2^-a <= 2^W.
        count = 0
        for c in range(window, -1, -1):
            count += math.comb(window, c)
            if count * 2**-alpha_log2 > 2**window:
                return c + 1
        return 0
    p = 2.0**-h
    log_p, log_q = math.log(p), math.log1p(-p)
    log_alpha = alpha_log2 * math.log(2)
    tail = 0.0
    for c in range(window, -1, -1):
        tail += math.exp(math.log(math.comb(window, c)) + c * log_p + (window - c) * log_q)
        if math.log(tail) > log_alpha:
            return c + 1
    return 0


class HealthTestFailure(Exception):
    """The raw stream failed a health test; the source must not be used."""


@dataclass
class HealthTests:
    """Streaming RCT + APT over one source's raw bits (binary samples)."""

    h: float
    window: int = APT_WINDOW_BINARY

    def __post_init__(self) -> None:
        self.rct_cutoff = rct_cutoff(self.h)
        self.apt_cutoff = apt_cutoff(self.h, self.window)
        self.samples = 0
        self.failures = 0
        self._last = ""  # last bit seen ("0"/"1"), "" before the first
        self._run = 0  # length of the current run of `_last`
        self._apt_ref = ""  # first bit of the current APT window
        self._apt_seen = 0  # samples of the current window seen so far
        self._apt_count = 0  # occurrences of `_apt_ref` in the current window

    def reset(self) -> None:
        self.__post_init__()

    def feed(self, data: bytes) -> None:
        """Run both tests over `data` (MSB first); raises HealthTestFailure."""
        if not data:
            return
        bits = format(int.from_bytes(data, "big"), f"0{len(data) * 8}b")
        self.samples += len(bits)
        try:
            self._rct(bits)
            self._apt(bits)
        except HealthTestFailure:
            self.failures += 1
            raise

    def _rct(self, bits: str) -> None:
        cutoff = self.rct_cutoff
        first = bits[0]
        head = len(bits) - len(bits.lstrip(first))  # the run `bits` starts with
        if first == self._last and self._run + head >= cutoff:
            raise HealthTestFailure("repetition count test failed")
        # Any run of `cutoff` equal bits inside this read (C-level substring search).
        if "0" * cutoff in bits or "1" * cutoff in bits:
            raise HealthTestFailure("repetition count test failed")
        last = bits[-1]
        tail = len(bits) - len(bits.rstrip(last))
        if tail == len(bits) and last == self._last:
            self._run += tail
        else:
            self._run = tail
        self._last = last

    def _apt(self, bits: str) -> None:
        pos, n, window = 0, len(bits), self.window
        while pos < n:
            if self._apt_seen == 0:
                self._apt_ref = bits[pos]
            take = min(window - self._apt_seen, n - pos)
            self._apt_count += bits.count(self._apt_ref, pos, pos + take)
            self._apt_seen += take
            pos += take
            if self._apt_count >= self.apt_cutoff:
                raise HealthTestFailure("adaptive proportion test failed")
            if self._apt_seen == window:
                self._apt_seen = self._apt_count = 0
