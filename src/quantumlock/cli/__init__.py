"""The `quantumlock` command: an operator's tool that works on the database directly."""

from quantumlock.cli.main import app


def main() -> None:
    app()


__all__ = ["app", "main"]
