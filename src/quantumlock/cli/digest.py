"""Signing files of any size: hash locally (streaming), sign the digest statement.

The server signs what it is sent, whole, in one request body; a release tarball does not fit.
So `crypto sign` sends a short statement instead of the file:

    b"QL-FILE-DIGEST-v1\\0SHA-512\\0" + SHA-512(file)

and the signature JSON records it (`"mode": "sha512-digest"`, the hex `digest`, the file's
`size`). The server binds its nonce and algorithm around the statement as for any message
(`QL-SIGN-v1`), so a verifier needs only the file, the JSON and the public key. The prefix
keeps a statement from being read as some other signed message, and a second preimage of
SHA-512 is what forging one would take. The other way round, a statement must never pass as
a file's own bytes: `--raw` refuses to sign, and raw verification refuses to accept, any
input that starts with the statement's prefix (else a digest signature stripped of its mode
would verify a file holding the statement, and a raw signature over a statement would pass
as the signature of the file it digests). Hashing uses pyca/cryptography.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

MODE = "sha512-digest"
ALGORITHM = "SHA-512"
MAGIC = b"QL-FILE-DIGEST-v1\x00"
PREFIX = MAGIC + ALGORITHM.encode() + b"\x00"
CHUNK = 1024 * 1024
# Files at least this large show a progress bar while they are hashed (on a terminal).
PROGRESS_FROM = 64 * 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    digest: bytes
    size: int

    @property
    def statement(self) -> bytes:
        """What the server signs for the file."""
        return PREFIX + self.digest

    def metadata(self) -> dict[str, object]:
        return {"mode": MODE, "digest_algorithm": ALGORITHM, "digest": self.digest.hex(),
                "size": self.size}  # fmt: skip


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _hash(handle: BinaryIO, progress: Progress | None, task: TaskID | None) -> FileDigest:
    hasher = hashes.Hash(hashes.SHA512())
    size = 0
    for chunk in _chunks(handle):
        hasher.update(chunk)
        size += len(chunk)
        if progress is not None and task is not None:
            progress.update(task, advance=len(chunk))
    return FileDigest(hasher.finalize(), size)


def digest_of(source: str, console: Console, *, stdin: str = "-") -> FileDigest:
    """SHA-512 of a file (or stdin), read in 1 MiB chunks; a progress bar on `console`
    for large files. Raises OSError as reading does."""
    if source == stdin:
        return _hash(sys.stdin.buffer, None, None)
    path = Path(source)
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size < PROGRESS_FROM:
            return _hash(handle, None, None)
        columns = (
            TextColumn("hashing {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(path.name, total=size)
            return _hash(handle, progress, task)
