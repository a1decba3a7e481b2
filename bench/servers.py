"""Server processes: spawn, wait for readiness, measure memory, and always stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    # The port is free when we look; the window before the server binds it is accepted.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def children(pid: int) -> list[int]:
    """Direct children, found by parent pid: /proc/<pid>/task/*/children is not always built."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _logs: tuple[IO[bytes], IO[bytes]] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}.stderr.log"

    def start(self) -> None:
        stdout = (self.log_dir / f"{self.name}.stdout.log").open("wb")
        stderr = self.stderr_path.open("wb")
        self._logs = (stdout, stderr)
        self.started_at = time.monotonic()
        # Own session: Ctrl-C in the terminal reaches only us, and stop() can signal the
        # whole group, uvicorn's worker processes included.
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    def wait_ready(self, path: str) -> float:
        """Seconds from spawning the server to its first 200 on `path` (the cold start)."""
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
                try:
                    if client.get(path).status_code == 200:
                        return time.monotonic() - self.started_at
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not answer 200 on {path} in {READY_TIMEOUT_S:.0f} s")

    def rss(self) -> dict[str, Any]:
        assert self.process is not None
        workers: list[float] = []
        helpers: list[float] = []
        for pid in children(self.process.pid):
            rss = rss_mb(pid)
            if rss is None:
                continue
            # With --workers > 1 multiprocessing adds a resource tracker next to the workers.
            is_helper = "resource_tracker" in _cmdline(pid)
            (helpers if is_helper else workers).append(round(rss, 1))
        main = rss_mb(self.process.pid)
        return {
            "main_mb": None if main is None else round(main, 1),
            "workers_mb": workers,
            "helpers_mb": helpers,
            "total_mb": round((main or 0.0) + sum(workers) + sum(helpers), 1),
        }

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        if process is not None:
            # Workers outlive a killed supervisor; the group is ours alone.
            self._signal(process, signal.SIGKILL)
        for log in self._logs or ():
            log.close()
        self._logs = None

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
