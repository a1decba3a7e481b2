"""The CLI's own config file: saved API profiles (`quantumlock login`) and the operator's
data directory (recorded by `init`).

One TOML file, owner-only (0600, it holds API keys), at $QUANTUMLOCK_CONFIG, else
$XDG_CONFIG_HOME/quantumlock/config.toml, else ~/.config/quantumlock/config.toml:

    [operator]
    data_dir = "/srv/quantumlock/.quantumlock"

    [profiles.default]
    api_key = "qcos_live_…"
    base_url = "https://licensing.example.com"
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROFILE = "default"


class ConfigError(Exception):
    """The config file exists but cannot be read or written; the message names it."""


def config_path() -> Path:
    explicit = os.environ.get("QUANTUMLOCK_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "quantumlock" / "config.toml"


@dataclass
class Profile:
    api_key: str | None = None
    base_url: str | None = None


@dataclass
class Config:
    path: Path
    data_dir: Path | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.path.exists()


def _text(value: Any, where: str, path: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {where} must be a string")
    return value


def load() -> Config:
    path = config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        document = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    operator = document.get("operator") or {}
    profiles_doc = document.get("profiles") or {}
    if not isinstance(operator, dict) or not isinstance(profiles_doc, dict):
        raise ConfigError(f"{path}: [operator] and [profiles.*] must be tables")
    data_dir = _text(operator.get("data_dir"), "operator.data_dir", path)
    profiles: dict[str, Profile] = {}
    for name, table in profiles_doc.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        profiles[name] = Profile(
            api_key=_text(table.get("api_key"), f"profiles.{name}.api_key", path),
            base_url=_text(table.get("base_url"), f"profiles.{name}.base_url", path),
        )
    return Config(path, Path(data_dir) if data_dir else None, profiles)


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    bare = name and all(c.isalnum() or c in "-_" for c in name)
    return name if bare else _toml_string(name)


def render(config: Config) -> str:
    lines = ["# quantumlock CLI: saved profiles (API keys: keep this file 0600) and data dir", ""]
    if config.data_dir is not None:
        lines += ["[operator]", f"data_dir = {_toml_string(str(config.data_dir))}", ""]
    for name, profile in config.profiles.items():
        lines.append(f"[profiles.{_key(name)}]")
        for attr in ("api_key", "base_url"):
            value = getattr(profile, attr)
            if value is not None:
                lines.append(f"{attr} = {_toml_string(value)}")
        lines.append("")
    return "\n".join(lines)


def save(config: Config) -> None:
    """Write atomically, 0600 from the start (never briefly readable by others)."""
    path = config.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # A fresh, unpredictable name, created exclusively (mkstemp: O_EXCL, mode 0600): a
        # name planted in the directory (a symlink) can never receive the keys.
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(render(config))
            os.replace(name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def remove_if_empty(config: Config) -> bool:
    """Delete the file when nothing is left in it; True if it was deleted."""
    if config.data_dir is None and not config.profiles:
        try:
            config.path.unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot remove {config.path}: {exc.strerror}") from exc
        return True
    save(config)
    return False


def readable_by_others(path: Path) -> bool:
    """A config file holding keys that group or others can read (made by hand, say)."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def mask(api_key: str) -> str:
    """What may be shown of a key: its type prefix and four characters."""
    head, sep, rest = api_key.partition("_")
    kind, sep2, body = rest.partition("_")
    if sep and sep2:
        return f"{head}_{kind}_{body[:4]}…"
    return f"{api_key[:4]}…"
