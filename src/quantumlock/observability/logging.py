from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson
import structlog


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written, not when logging was configured: a
    command run in-process (tests, embedding) swaps sys.stderr and closes its stand-in."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _BufferedStdout:
    """A line buffer in front of whatever sys.stdout is at the moment.

    Unbuffered stdout (PYTHONUNBUFFERED=1, usual in containers) would cost one write(2)
    per request for the access log, a large share of a cached request's time. Info and
    debug lines are therefore held here and written in one go by `flush_logs()`, which the
    server calls every half second and at shutdown, or when 64 KiB have gathered. Warnings
    and errors are written through at once, so nothing important waits on a timer.
    """

    def __init__(self, limit: int = 64 * 1024) -> None:
        self._lines: list[str] = []
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        urgent = '"level":"info"' not in text and '"level":"debug"' not in text
        with self._lock:
            self._lines.append(text)
            self._size += len(text)
            full = self._size >= self._limit
        if urgent or full:
            self.drain()
        return len(text)

    def write_info(self, text: str) -> None:
        """An info line known to be one (the access log): no level sniffing."""
        with self._lock:
            self._lines.append(text)
            self._size += len(text)
            full = self._size >= self._limit
        if full:
            self.drain()

    def flush(self) -> None:
        pass  # structlog flushes after every line; draining is ours to time

    def drain(self) -> None:
        with self._lock:
            lines, self._lines, self._size = self._lines, [], 0
        if lines:
            sys.stdout.write("".join(lines))
            sys.stdout.flush()


_SINK = _BufferedStdout()


_INFO_ENABLED = [True]
# "json" or "console": how the access log renders (it skips structlog's chain in JSON only).
Rendering = Literal["json", "console"]
_FORMAT: list[Rendering] = ["json"]


def flush_logs() -> None:
    _SINK.drain()


def access_log(**fields: object) -> None:
    """One access-log line, in the same JSON shape structlog renders (event, level, timestamp).

    The access log is written once per request, so it skips structlog's processor chain:
    the line is built and rendered here in one orjson call.
    """
    if not _INFO_ENABLED[0]:
        return
    if _FORMAT[0] == "console":
        # For a person at a terminal: the same fields, through the console renderer.
        structlog.get_logger("quantumlock.access").info("request", **fields)
        return
    fields["event"] = "request"
    fields["level"] = "info"
    fields["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    _SINK.write_info(orjson.dumps(fields, default=str).decode() + "\n")


def _orjson_dumps(event: object, **_: object) -> str:
    return orjson.dumps(event, default=str).decode()


def resolve_format(fmt: str, stream: TextIO) -> Rendering:
    """`auto`: the console renderer when `stream` (where the lines go) is a terminal,
    JSON lines otherwise (files, pipes, log collectors)."""
    if fmt == "json":
        return "json"
    if fmt == "console":
        return "console"
    isatty = getattr(stream, "isatty", None)
    try:
        return "console" if isatty is not None and isatty() else "json"
    except ValueError:  # a closed stream
        return "json"


def _processors(fmt: Rendering = "json") -> list[Any]:
    """Level, UTC ISO timestamp, exception text, the bound context (request id), then one
    JSON line per event, or one aligned, coloured line for a person at a terminal."""
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=_colors_wanted())
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        # The console renderer formats tracebacks itself (and better).
        chain.append(structlog.processors.format_exc_info)
    return [*chain, renderer]


def _colors_wanted() -> bool:
    # https://no-color.org: any value turns colours off.
    return "NO_COLOR" not in os.environ


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Lines on stdout: JSON (one object per line), or the console renderer when stdout is
    a terminal (`fmt="auto"`; QL_LOG_FORMAT=json|console forces one). Nothing logged here
    ever carries a key or other secret."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _INFO_ENABLED[0] = numeric <= logging.INFO
    _FORMAT[0] = resolve_format(fmt, sys.stdout)
    structlog.configure(
        processors=_processors(_FORMAT[0]),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_SINK),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    # Libraries that use stdlib logging (uvicorn, sqlalchemy, alembic) go to stderr as text.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)


def configure_cli_logging() -> None:
    """Commands print their results on stdout (often JSON for scripts): log lines go to
    stderr, and only warnings and errors; rendered for a person when stderr is a terminal
    (QL_LOG_FORMAT forces a format here too)."""
    fmt = resolve_format(os.environ.get("QL_LOG_FORMAT", "auto").lower(), sys.stderr)
    structlog.configure(
        processors=_processors(fmt),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
