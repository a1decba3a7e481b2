"""The `quantumlock` command, in two roles: vendor commands that talk to a server through
the SDK (`keys`, `licenses`, `keystore`, `crypto`, `entropy`, `login`), and operator commands
that act on a deployment's data directory (`init`, `serve`, `accounts`, `master-key`)."""

import sys

from quantumlock.core.startup import collector_paused


def main() -> None:
    # The commands load here, not when this package is imported: `serve --workers N` spawns
    # its workers, and multiprocessing re-imports the console script (so this package) in
    # each of them, which need only quantumlock.server (~0.9 s of imports saved per worker).
    with collector_paused():  # see quantumlock.core.startup
        # Typer vendors its own click (typer._click): its exceptions, not the `click` package's.
        import typer
        from typer._click import exceptions as click

        from quantumlock.cli.main import app
    try:
        status = app(standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(2)
    except click.ClickException as exc:
        # Usage errors in the one error format too, not click's boxed usage screen.
        from quantumlock.cli.common import report_usage_error

        report_usage_error(exc)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


__all__ = ["main"]
