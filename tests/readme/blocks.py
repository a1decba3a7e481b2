"""The README's fenced blocks, as the README test runs them.

Every fenced block has a language tag, and the tag says what the test does with it:

* `sh`, `bash`, `console`: run with bash, in README order, in one shell session (variables
  and the working directory carry over from block to block, as in a reader's terminal);
  in a `console` block only the `$ ` lines are commands, the rest is their output.
* `python`: exec'd in README order, in one namespace.
* `text` (output samples, formats; no `$ ` command lines) and `json` (must parse): not run.

A block that cannot run in a test says so in the README, on the line before it:
`<!-- readme-test: skip: <why> -->`; a CLI synopsis (commands with `[optional]` parts) is
marked `<!-- readme-test: synopsis -->` and its commands and options are checked against the
CLI instead. Anything else (a tag not listed here, a block without a tag, a marker with no
block after it) is an error: an example cannot leave the test by its tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELL = frozenset({"sh", "bash", "console"})
PYTHON = frozenset({"python"})
SAMPLES = frozenset({"text", "json"})
KNOWN = SHELL | PYTHON | SAMPLES

README = Path(__file__).resolve().parents[2] / "README.md"

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(?P<body>.*?)\s*-->\s*$")
_ANY_MARKER = re.compile(r"readme-test", re.IGNORECASE)


class ReadmeFormatError(Exception):
    """The README breaks the rules above; the message names every offending line."""


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None = None  # the reason given by a skip marker
    synopsis: bool = False

    @property
    def first_code_line(self) -> int:
        return self.line + 1

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def _marker(line: str, number: int, problems: list[str]) -> tuple[str, str] | None:
    match = _MARKER.match(line)
    if match is None:
        if _ANY_MARKER.search(line):
            problems.append(f"README.md:{number}: malformed readme-test marker: {line.strip()}")
        return None
    body = match.group("body")
    if body == "synopsis":
        return ("synopsis", "")
    kind, _, reason = body.partition(":")
    if kind.strip() == "skip" and reason.strip():
        return ("skip", reason.strip())
    problems.append(
        f"README.md:{number}: a marker is `readme-test: skip: <why>` or `readme-test: "
        f"synopsis`, not {body!r}"
    )
    return None


def parse(text: str) -> list[Block]:
    """Every fenced block of `text`, in order; ReadmeFormatError if one breaks the rules."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, tuple[str, str]] | None = None  # a marker waiting for its block
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        fence = _FENCE.match(line)
        if fence is None:
            marker = _marker(line, number, problems)
            if marker is not None:
                if pending is not None:
                    problems.append(f"README.md:{pending[0]}: marker with no block after it")
                pending = (number, marker)
            elif line.strip() and pending is not None:
                problems.append(f"README.md:{pending[0]}: marker with no block right after it")
                pending = None
            index += 1
            continue
        opening = fence.group("fence")
        lang = fence.group("info").split()[0] if fence.group("info").strip() else ""
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and closing.group("fence")[0] == opening[0]
                and len(closing.group("fence")) >= len(opening)
                and not closing.group("info").strip()
            ):
                break
            body.append(lines[index])
            index += 1
        else:
            problems.append(f"README.md:{number}: fence never closed")
        index += 1
        if lang not in KNOWN:
            problems.append(
                f"README.md:{number}: fenced block with language tag {lang or '(none)'!r}; "
                f"use one of {', '.join(sorted(KNOWN))}"
            )
        if lang == "text" and any(line.startswith("$ ") for line in body):
            problems.append(
                f"README.md:{number}: a text block with `$ ` commands: make it a console block "
                "(its `$ ` lines run) or a shell block with a skip marker"
            )
        skip, synopsis = None, False
        if pending is not None:
            kind, reason = pending[1]
            if lang in SAMPLES:
                problems.append(f"README.md:{pending[0]}: a {lang} block is never run: no marker")
            elif kind == "skip":
                skip = reason
            else:
                synopsis = lang in SHELL
                if not synopsis:
                    problems.append(f"README.md:{pending[0]}: a synopsis is a shell block")
            pending = None
        blocks.append(Block(number, lang, "\n".join(body) + "\n", skip, synopsis))
    if pending is not None:
        problems.append(f"README.md:{pending[0]}: marker with no block after it")
    if problems:
        raise ReadmeFormatError("\n".join(problems))
    return blocks


def console_commands(code: str) -> str:
    """A console block's commands: its `$ ` lines (and their `\\` continuations); a block
    without prompts is all commands."""
    lines = code.splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return code
    commands: list[str] = []
    continued = False
    for line in lines:
        if line.startswith("$ "):
            commands.append(line[2:])
        elif continued:
            commands.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return "\n".join(commands) + "\n"


def synopsis_commands(code: str) -> list[tuple[int, str]]:
    """The `quantumlock …` lines of a synopsis (continuations joined, comments dropped), with
    their offset in the block."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for offset, raw in enumerate(code.splitlines()):
        line = raw.split("  #", 1)[0].strip()
        if not current:
            if not line.startswith("quantumlock "):
                continue
            start = offset
        current.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            out.append((start, " ".join(current)))
            current = []
    return out
