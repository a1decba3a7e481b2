"""CLI logging writes to whatever sys.stderr is at the time of the line."""

from __future__ import annotations

import io
import sys

import pytest
import structlog

from quantumlock.observability.logging import configure_cli_logging


def test_a_warning_after_the_configuring_stderr_was_closed_goes_to_the_current_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As an in-process command runner does: configure under a stand-in stderr, close it.
    stand_in = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stand_in)
    configure_cli_logging()
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    stand_in.close()
    current = io.StringIO()
    monkeypatch.setattr(sys, "stderr", current)
    structlog.get_logger("test").warning("still_heard")
    assert "still_heard" in current.getvalue()
