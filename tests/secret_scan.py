"""The secrets scan: every log line and every error body the test run produces is searched for
API keys, the master key and secrets the tests registered (plaintexts, shared secrets, key
material); a hit fails the test that produced it (or the session, for server log files).

What is scanned:
* each test's captured stdout/stderr and log records (the structlog JSON lines of in-process
  apps, stdlib logging), after buffered log lines are flushed;
* the body of every 4xx/5xx answer the `client` fixture (or any client wired with
  `watch_client`) receives;
* at the end of the session, every `*.log` file under the run's temporary directory: the real
  server processes' output (tests/e2e, tests/cluster, tests/crash).

Imported into tests/conftest.py, which is where pytest finds its hooks and fixtures.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pluggy import Result

from quantumlock.observability.logging import flush_logs

KEY_PATTERN = re.compile(r"qcos_(?:live|test|rkey)_[0-9A-Za-z]{20,}")
# Registered values shorter than this are not searched for (they would match by chance).
MIN_SECRET_LENGTH = 12


class SecretsRegistry:
    """Secrets the tests created; any of them in a log line or error body is a leak."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str | bytes) -> None:
        for value in values:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if len(text) >= MIN_SECRET_LENGTH:
                self._values.add(text)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))


REGISTRY = SecretsRegistry()
ERROR_BODIES: list[str] = []


def find_secrets(text: str, registered: Iterable[str] = ()) -> list[str]:
    """The secrets in `text`, shortened so the report does not leak them in turn."""
    hits = [m.group(0) for m in KEY_PATTERN.finditer(text)]
    hits += [value for value in registered if value in text]
    return [f"{hit[:14]}… ({len(hit)} chars)" for hit in dict.fromkeys(hits)]


def _record_error_body(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.read()
        ERROR_BODIES.append(f"{response.request.method} {response.request.url.path} "
                            f"{response.status_code}: {response.text}")  # fmt: skip


def watch_client(client: httpx.Client) -> None:
    """Have the scan see every error body `client` receives."""
    client.event_hooks["response"] = [*client.event_hooks["response"], _record_error_body]


@pytest.fixture
def secrets_registry() -> SecretsRegistry:
    """Register what a test created (a plaintext, a shared secret, key material)."""
    return REGISTRY


@pytest.fixture(autouse=True)
def _flush_logs_for_the_secret_scan() -> Iterator[None]:
    # Torn down last: the app's buffered info lines are written while the capture still runs.
    yield
    flush_logs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "teardown":
        return
    bodies = ERROR_BODIES[:]
    ERROR_BODIES.clear()
    places = [(name, content) for name, content in report.sections]
    places += [("error body", body) for body in bodies]
    found = []
    for name, content in places:
        for hit in find_secrets(content, REGISTRY):
            found.append(f"{name}: {hit}")
    if found and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"secret scan: {item.nodeid} leaked secrets:\n  " + "\n  ".join(found)


def scan_log_files(root: Path, pattern: str = "*.log") -> list[str]:
    found = []
    for path in sorted(root.rglob(pattern)):
        text = path.read_text(errors="replace")
        found += [f"{path}: {hit}" for hit in find_secrets(text, REGISTRY)]
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        root = factory.getbasetemp()
    except (OSError, ValueError):
        return
    found = scan_log_files(root)
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "secret scan: server logs leaked secrets:\n  " + "\n  ".join(found)
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
