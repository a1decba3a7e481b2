"""The README test's reading of a README: tags, markers, console prompts, synopses."""

from __future__ import annotations

import pytest

from tests.readme.blocks import ReadmeFormatError, console_commands, parse, synopsis_commands


def test_blocks_come_in_order_with_their_lines_and_markers() -> None:
    text = (
        "# Title\n"
        "```sh\necho one\n```\n"
        "\n<!-- readme-test: skip: needs a GPU -->\n\n"
        "```python\nprint(2)\n```\n"
        "<!-- readme-test: synopsis -->\n"
        "```bash\nquantumlock serve [--port N]\n```\n"
        "````text\n```\nnot a fence inside\n````\n"
    )
    blocks = parse(text)
    assert [(b.line, b.lang, b.skip, b.synopsis) for b in blocks] == [
        (2, "sh", None, False),
        (8, "python", "needs a GPU", False),
        (12, "bash", None, True),
        (15, "text", None, False),
    ]
    assert blocks[0].code == "echo one\n" and blocks[3].code == "```\nnot a fence inside\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("```\nls\n```\n", r"language tag '\(none\)'"),
        ("```shell\nls\n```\n", "language tag 'shell'"),
        ("~~~ruby\nputs 1\n~~~\n", "language tag 'ruby'"),
        ("```sh\nls\n", "fence never closed"),
        ("<!-- readme-test: skip: why -->\ntext\n```sh\nls\n```\n", "no block right after"),
        ("<!-- readme-test: skip: why -->\n", "no block after it"),
        ("<!-- readme-test: skip -->\n```sh\nls\n```\n", "a marker is"),
        ("<!-- readme-test skip: why -->\n```sh\nls\n```\n", "malformed"),
        ("<!-- readme-test: skip: why -->\n```text\nout\n```\n", "never run"),
        ("<!-- readme-test: synopsis -->\n```python\nx\n```\n", "a synopsis is a shell block"),
        ("```text\n$ rm -rf build\n```\n", "make it a console block"),
    ],
)
def test_what_could_hide_an_example_is_an_error(text: str, problem: str) -> None:
    with pytest.raises(ReadmeFormatError, match=problem):
        parse(text)


def test_console_blocks_run_their_prompted_lines_only() -> None:
    code = "$ echo a \\\n  b\na b\n$ ls\nfile\n"
    assert console_commands(code) == "echo a \\\n  b\nls\n"
    assert console_commands("echo plain\n") == "echo plain\n"


def test_synopsis_lines_join_continuations_and_drop_comments() -> None:
    code = (
        "quantumlock init                 # idempotent\n"
        "quantumlock accounts set-limits cust_… [--burst N] \\\n"
        "    [--plan P]\n"
        '    # {"id": …}\n'
        "other command\n"
    )
    assert synopsis_commands(code) == [
        (0, "quantumlock init"),
        (1, "quantumlock accounts set-limits cust_… [--burst N] [--plan P]"),
    ]
