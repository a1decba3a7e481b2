from __future__ import annotations

import logging
import sys

import structlog


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the moment (test capture, a redirected worker)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout. Nothing logged here ever carries a key or other secret."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    # Libraries that use stdlib logging (uvicorn, sqlalchemy, alembic) go to stderr as text.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
