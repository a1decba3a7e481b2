"""The README's examples, run: every shell and Python block, in order, against a real server.

The server is set up as `make run` sets it up (`quantumlock init`, which bootstraps the first
account and its admin key file, then `quantumlock serve`), in a fresh directory that is also
the blocks' working directory (so `./.quantumlock` is its data directory). Before the first
block, an account created with `quantumlock accounts create --json` gives the session its
`QCOS_API_KEY`, and `QCOS_BASE_URL` points at the server. See tests/readme/blocks.py for the
README's tags and markers, tests/readme/runner.py for how blocks run.

A broken example fails this test with its README line, the block and its output.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CLI, Server, serve, stop_server
from tests.readme import synopsis
from tests.readme.blocks import (
    PYTHON,
    README,
    SHELL,
    ReadmeFormatError,
    parse,
    synopsis_commands,
)
from tests.readme.runner import BlockFailed, Session

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("readme")]


def _shim(directory: Path, name: str, *argv: str) -> None:
    path = directory / name
    quoted = " ".join(f'"{a}"' for a in argv)
    path.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def reader_env(home: Path) -> dict[str, str]:
    """The reader's shell: `quantumlock` and `python3` are this test's (its interpreter and
    sources), nothing of the developer's own QuantumLock or QCOS settings, a home of its own
    (no saved CLI profile)."""
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    _shim(bin_dir, "quantumlock", *CLI)
    _shim(bin_dir, "python3", sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QL_", "QCOS_", "XDG_"))}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return env


@pytest.fixture(scope="module")
def readme_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("readme")
    workdir = tmp / "work"
    workdir.mkdir()
    env = {**reader_env(tmp / "home"), "QL_DATA_DIR": str(workdir / ".quantumlock")}
    # RSA keys (the keystore and SHA3-512-RSA examples) are made in the request's thread, not
    # in the nice-19 pool: on the test machine's two busy cores that pool can starve past the
    # SDK's 10 s timeout (seen under `make test`), which says nothing about the README.
    env["QL_KEYGEN_WORKERS"] = "0"
    init = subprocess.run(
        [*CLI, "init"], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stdout + init.stderr
    server: Server = serve(tmp, env)
    try:
        created = server.cli_json(
            "accounts", "create", "--name", "README reader", "--email", "reader@example.com"
        )
        assert isinstance(created, dict)
        env.update(QCOS_API_KEY=created["api_key"], QCOS_BASE_URL=server.base_url)
        yield Session(env, workdir, server.base_url, tmp / "shell-state")
    finally:
        stop_server(server)


def test_every_block_has_a_known_tag_and_markers_are_well_formed() -> None:
    """A block the README test would not run must say so in its tag or a visible marker."""
    problems = ""
    try:
        blocks = parse(README.read_text())
    except ReadmeFormatError as exc:
        problems, blocks = str(exc), []
    if problems:
        pytest.fail(f"README.md breaks the README test's rules:\n{problems}", pytrace=False)
    assert any(b.lang in SHELL for b in blocks) and any(b.lang in PYTHON for b in blocks)
    for block in blocks:
        if block.lang == "json":
            try:
                json.loads(block.code)
            except ValueError as exc:
                pytest.fail(f"{block.where}: not JSON: {exc}")


def test_cli_synopses_name_real_commands_and_options() -> None:
    failures = []
    checked = 0
    for block in parse(README.read_text()):
        if not block.synopsis:
            continue
        for offset, line in synopsis_commands(block.code):
            checked += 1
            failures += [
                f"README.md:{block.first_code_line + offset}: {p}" for p in synopsis.problems(line)
            ]
    assert checked, "no synopsis line found"
    assert not failures, "\n".join(failures)


def test_readme_examples_run(readme_session: Session) -> None:
    blocks = parse(README.read_text())
    ran: list[str] = []
    skipped: list[str] = []
    for block in blocks:
        if block.lang not in SHELL | PYTHON:
            continue
        if block.skip is not None:
            skipped.append(f"{block.where}: {block.skip}")
            continue
        if block.synopsis:
            skipped.append(f"{block.where}: a CLI synopsis (checked against the CLI)")
            continue
        started = time.monotonic()
        failure: str | None = None
        try:
            readme_session.run(block)
        except BlockFailed as exc:
            failure = str(exc)  # the README line, the block and its output
        if failure is not None:  # outside the except: no chained traceback of the test
            pytest.fail(failure, pytrace=False)
        ran.append(f"{block.where} {time.monotonic() - started:.1f} s")
    print(f"README: ran {len(ran)} blocks, skipped {len(skipped)}:")
    for line in ran:
        print(f"  ran {line}")
    for line in skipped:
        print(f"  skipped {line}")
    assert ran
