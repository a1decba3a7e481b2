"""A README CLI synopsis checked against the CLI itself: commands exist, options exist.

A synopsis line is `quantumlock <command words> [args and options]`, where a word may list
alternatives (`revoke|suspend|reinstate`); every `--option` on the line must belong to one
of the commands named (or to a group on their way).
"""

from __future__ import annotations

import re
from typing import Any

import typer.main

_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _root() -> Any:
    from quantumlock.cli.main import app

    return typer.main.get_command(app)


def _is_group(command: Any) -> bool:
    # Typer ships its own copy of click: a group is what has subcommands.
    return isinstance(getattr(command, "commands", None), dict)


def _options(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return names


def problems(line: str) -> list[str]:
    """What in this synopsis line the CLI does not have (empty: all of it exists)."""
    root = _root()
    words = line.split()[1:]  # after `quantumlock`
    commands: list[Any] = [root]
    inherited = _options(root)
    path = ["quantumlock"]
    for word in words:
        if not all(_is_group(c) for c in commands):
            break  # a leaf command: the rest are its arguments and options
        if word.startswith(("-", "[")):
            break
        names = word.split("|")
        found: list[Any] = []
        for group in commands:
            for name in names:
                sub = group.commands.get(name)
                if sub is None:
                    return [f"`{' '.join(path)}` has no command {name!r}"]
                found.append(sub)
            inherited |= _options(group)
        commands = found
        path.append(word)
    if any(_is_group(c) for c in commands):
        return [f"`{' '.join(path)}` is a group, not a command"]
    known = inherited.union(*(_options(c) for c in commands))
    where = " ".join(path)
    return [f"`{where}` has no option {o}" for o in _OPTION.findall(line) if o not in known]
