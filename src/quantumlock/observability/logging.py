from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog


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


def flush_logs() -> None:
    _SINK.drain()


def access_log(**fields: object) -> None:
    """One access-log line, in the same JSON shape structlog renders (event, level, timestamp).

    The access log is written once per request, so it skips structlog's processor chain:
    the line is built and rendered here in one orjson call.
    """
    if not _INFO_ENABLED[0]:
        return
    fields["event"] = "request"
    fields["level"] = "info"
    fields["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    _SINK.write_info(orjson.dumps(fields, default=str).decode() + "\n")


def _orjson_dumps(event: object, **_: object) -> str:
    return orjson.dumps(event, default=str).decode()


def _processors() -> list[Any]:
    """One JSON line per event: level, UTC ISO timestamp, exception text."""
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_orjson_dumps),
    ]


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout. Nothing logged here ever carries a key or other secret."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _INFO_ENABLED[0] = numeric <= logging.INFO
    structlog.configure(
        processors=_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_SINK),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    # Libraries that use stdlib logging (uvicorn, sqlalchemy, alembic) go to stderr as text.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)


def configure_cli_logging() -> None:
    """Commands print their results on stdout (often JSON for scripts): log lines go to
    stderr, and only warnings and errors."""
    structlog.configure(
        processors=_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
