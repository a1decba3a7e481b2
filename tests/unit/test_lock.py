"""requirements/lock.txt, which `make install` installs with hashes, fits both pyproject files:
a dependency added to either without `make lock` fails here, not in someone's `make install`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
# Our own distributions: installed from this repository, never from the lock (or an index).
OURS = {"quantumlock", "qcos"}


def pins() -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LOCK.read_text(), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in found}


def requirements(pyproject: Path) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for e in extras for r in e)]]


def test_every_entry_of_the_lock_is_pinned_and_hashed() -> None:
    entries = [e for e in re.split(r"\n(?=\S)", LOCK.read_text()) if not e.startswith("#")]
    assert len(entries) > 50
    for entry in entries:
        assert re.match(r"^\S+==\S+ \\\n", entry), entry[:80]
        assert "--hash=sha256:" in entry, entry[:80]
    assert not OURS & set(pins()), "our own distributions must not come from the lock"


def test_the_lock_satisfies_both_distributions_and_all_extras() -> None:
    locked = pins()
    for pyproject in (ROOT / "pyproject.toml", ROOT / "sdk" / "pyproject.toml"):
        for req in requirements(pyproject):
            name = canonicalize_name(req.name)
            assert name in locked, f"{req} ({pyproject.parent.name}): run `make lock`"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{req} ({pyproject.parent.name}) but the lock has {locked[name]}: run `make lock`"
            )
        for entry in ("pip", "setuptools", "wheel"):  # what `make install` builds with
            assert entry in locked
