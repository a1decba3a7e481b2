"""Where the operator commands find their deployment (the data directory).

In order: `--data-dir`, then $QL_DATA_DIR, then `[operator] data_dir` in the CLI's config
file (which `init` records), then `./.quantumlock` in the current directory. Every error of
an operator command names the path it used and how it was found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from quantumlock.cli import config

DEFAULT_NAME = ".quantumlock"

FLAG, ENV, CONFIG, CWD = "--data-dir", "QL_DATA_DIR", "config", "cwd"

_override: Path | None = None


def set_override(path: Path | None) -> None:
    """`--data-dir` (on the root command or on `init`)."""
    global _override
    if path is not None:
        _override = path


@dataclass(frozen=True)
class DataDir:
    path: Path  # absolute
    origin: str  # FLAG, ENV, CONFIG or CWD
    config_path: Path

    @property
    def explicit(self) -> bool:
        return self.origin in (FLAG, ENV)

    def describe(self) -> str:
        """`/srv/ql/.quantumlock (from QL_DATA_DIR)`: for every message that names it."""
        how = {
            FLAG: "from --data-dir",
            ENV: "from QL_DATA_DIR",
            CONFIG: f"from {self.config_path}",
            CWD: "in the current directory",
        }[self.origin]
        return f"{self.path} ({how})"


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path.expanduser()))


def resolve(saved: config.Config | None = None) -> DataDir:
    """Never fails: a config file that cannot be read is reported by the command that
    reads profiles; here it only does not count."""
    if saved is None:
        try:
            saved = config.load()
        except config.ConfigError:
            saved = config.Config(config.config_path())
    if _override is not None:
        return DataDir(_absolute(_override), FLAG, saved.path)
    env = os.environ.get("QL_DATA_DIR")
    if env:
        return DataDir(_absolute(Path(env)), ENV, saved.path)
    if saved.data_dir is not None:
        return DataDir(_absolute(saved.data_dir), CONFIG, saved.path)
    return DataDir(_absolute(Path(DEFAULT_NAME)), CWD, saved.path)


def local_default() -> Path:
    return _absolute(Path(DEFAULT_NAME))
