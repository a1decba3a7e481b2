"""Runs README blocks as a reader would: one shell session, one Python namespace.

Shell blocks run with `set -euo pipefail` and `curl` failing on an HTTP error (a reader
sees a 4xx body; the test must see a failure: `--fail-with-body` unless the example already
asks for `-f`), every assignment exported (`set -a`) so the
session's variables and working directory carry over to the next block. The README speaks
of the default address, `http://127.0.0.1:8000`; the test's server listens on a free port,
so that address is replaced by the server's in every block.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.readme.blocks import PYTHON, SHELL, Block, console_commands

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
BLOCK_TIMEOUT = 120

_PRELUDE = """\
set -euo pipefail
shopt -s inherit_errexit
set -a
curl() {  # an HTTP error fails the block; an example that asks for -f/--fail keeps it
  local arg
  for arg in "$@"; do
    case "$arg" in
      --fail | --fail-with-body) command curl --show-error "$@"; return ;;
      --*) ;;
      -*f*) command curl --show-error "$@"; return ;;
    esac
  done
  command curl --fail-with-body --show-error "$@"
}
"""
# The session's state for the next block: every exported variable, NUL-separated.
_TRAILER = '\nenv -0 > "$README_TEST_STATE"\n'
_NOT_CARRIED = frozenset({"README_TEST_STATE", "SHLVL", "_", "OLDPWD"})


class BlockFailed(AssertionError):
    pass


@dataclass
class Session:
    """A reader's terminal and Python interpreter: environment, directory, namespace."""

    env: dict[str, str]
    cwd: Path
    base_url: str
    state_file: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__readme__"})

    def _code(self, block: Block) -> str:
        return block.code.replace(DEFAULT_BASE_URL, self.base_url)

    def run(self, block: Block) -> str:
        if block.lang in SHELL:
            return self._shell(block)
        if block.lang in PYTHON:
            return self._python(block)
        raise ValueError(f"{block.where}: not a runnable block")

    def _shell(self, block: Block) -> str:
        code = self._code(block)
        if block.lang == "console":
            code = console_commands(code)
        self.state_file.unlink(missing_ok=True)
        try:
            result = subprocess.run(
                ["bash", "-c", _PRELUDE + code + _TRAILER],
                cwd=self.cwd,
                env={**self.env, "README_TEST_STATE": str(self.state_file)},
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BlockFailed(_report(block, f"timed out after {BLOCK_TIMEOUT} s", exc)) from None
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise BlockFailed(_report(block, f"exit status {result.returncode}", output))
        env = dict(
            entry.split("=", 1)
            for entry in self.state_file.read_text().split("\0")
            if "=" in entry and not entry.startswith("BASH_FUNC_")
        )
        self.env = {k: v for k, v in env.items() if k not in _NOT_CARRIED}
        self.cwd = Path(self.env.get("PWD", str(self.cwd)))
        return output

    def _python(self, block: Block) -> str:
        # Padded so that a traceback's line numbers are the README's.
        source = "\n" * (block.first_code_line - 1) + self._code(block)
        output = io.StringIO()
        failure: str | None
        with (
            self._process_state(),
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(output),
        ):
            try:
                exec(compile(source, "README.md", "exec"), self.namespace)  # noqa: S102
            except (Exception, SystemExit):  # any failure of the example is the report
                failure = traceback.format_exc()
            else:
                failure = None
        if failure is not None:
            raise BlockFailed(_report(block, failure, output.getvalue()))
        return output.getvalue()

    @contextlib.contextmanager
    def _process_state(self) -> Iterator[None]:
        """The session's environment and directory for this process, restored afterwards."""
        saved_env, saved_cwd = dict(os.environ), Path.cwd()
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.cwd)
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)


def _report(block: Block, what: str, output: object) -> str:
    if isinstance(output, subprocess.TimeoutExpired):
        parts = (output.stdout or b"", output.stderr or b"")
        output = "".join(p.decode() if isinstance(p, bytes) else p for p in parts)
    numbered = "\n".join(
        f"{block.first_code_line + i:5}  {line}" for i, line in enumerate(block.code.splitlines())
    )
    return (
        f"README example at {block.where} failed: {what}\n"
        f"--- the block ---\n{numbered}\n--- its output ---\n{output}"
    )
