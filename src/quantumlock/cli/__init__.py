"""The `quantumlock` command: an operator's tool that works on the database directly."""

from quantumlock.core.startup import collector_paused

with collector_paused():  # every command pays for these imports (quantumlock.core.startup)
    from quantumlock.cli.main import app


def main() -> None:
    app()


__all__ = ["app", "main"]
