"""The `quantumlock` command: an operator's tool that works on the database directly."""

from quantumlock.core.startup import collector_paused


def main() -> None:
    # The commands load here, not when this package is imported: `serve --workers N` spawns
    # its workers, and multiprocessing re-imports the console script (so this package) in
    # each of them, which need only quantumlock.server (~0.9 s of imports saved per worker).
    with collector_paused():  # see quantumlock.core.startup
        from quantumlock.cli.main import app
    app()


__all__ = ["main"]
