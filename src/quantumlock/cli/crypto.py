"""`quantumlock crypto encrypt|decrypt|sign|verify`: tenant operations through the API (SDK).

Unlike the operator commands, these act as an API key holder would: they need no database or
master key, only `--api-key` / QCOS_API_KEY and `--base-url` / QCOS_BASE_URL.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

from quantumlock.cli.common import fail, print_json

if TYPE_CHECKING:
    from qcos import Cipher, Client, SignatureAlgorithm

app = typer.Typer(
    help="Encrypt, decrypt, sign and verify with keys held by the server (scope quantum:crypto).",
    no_args_is_help=True,
)

API_KEY = typer.Option(
    None,
    "--api-key",
    envvar="QCOS_API_KEY",
    show_envvar=True,
    show_default=False,
    help="API key (better: the environment variable, which stays out of the process list).",
)
BASE_URL = typer.Option(
    None, "--base-url", envvar="QCOS_BASE_URL", show_envvar=True, help="Server URL."
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")
STDIO = "-"
# Key generation (RSA above all) can take seconds on a busy server.
TIMEOUT = 120.0
# Exit codes of `verify`: 0 valid, 1 invalid; usage and API errors are 2 everywhere.
USAGE = 2


@contextmanager
def api_client(api_key: str | None, base_url: str | None) -> Iterator[Client]:
    """An SDK client; its errors become a one-line message (code, detail, request id)."""
    # The SDK (and httpx) load with the commands that call the API, not with every command:
    # `quantumlock serve` would otherwise pay ~0.2 s of its cold start for them.
    from qcos import Client, ConfigurationError, QCOSError

    try:
        client = Client(api_key=api_key, base_url=base_url, timeout=TIMEOUT)
    except ConfigurationError:
        fail("no API key: pass --api-key or set QCOS_API_KEY.", USAGE)
    try:
        with client:
            yield client
    except QCOSError as exc:
        # str(exc) is the server's code and detail: never the key, never the payload.
        fail(str(exc), USAGE)


def read_input(source: str) -> bytes:
    if source == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}", USAGE)


def write_output(data: bytes, target: str | None) -> None:
    if target is None or target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}", USAGE)


def write_json(data: dict[str, Any], target: str | None) -> None:
    if target is None or target == STDIO:
        print_json(data)
    else:
        write_output((json.dumps(data, indent=2) + "\n").encode(), target)


def read_document(source: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(read_input(source))
    except (json.JSONDecodeError, UnicodeDecodeError):
        fail(f"{what} {source} is not JSON.", USAGE)
    if not isinstance(data, dict):
        fail(f"{what} {source} must be a JSON object.", USAGE)
    return data


def bad_document(what: str, source: str) -> NoReturn:
    fail(f"{what} {source} lacks a field or holds malformed base64.", USAGE)


def _aad(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


@app.command("encrypt")
def encrypt(
    source: str = typer.Option(STDIO, "--in", help="Plaintext file, or - for stdin."),
    key_id: str | None = typer.Option(
        None, "--key-id", help="An existing key (key_quantum_…); its own algorithm is used."
    ),
    algorithm: str | None = typer.Option(
        None,
        "--algorithm",
        help="AES-256-GCM or ChaCha20-Poly1305: without --key-id, a new key of it.",
    ),
    aad: str | None = typer.Option(
        None, "--aad", help="Associated data: not stored, give it again to decrypt."
    ),
    out: str | None = typer.Option(None, "--out", help="Envelope file (default stdout)."),
    as_json: bool = typer.Option(
        True, "--json", help="Accepted for symmetry: the envelope is JSON in any case."
    ),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
) -> None:
    """Encrypt a file; prints the JSON envelope (key_id, algorithm, iv, tag, ciphertext)."""
    plaintext = read_input(source)
    with api_client(api_key, base_url) as client:
        # With --key-id alone the server uses the key's own algorithm.
        encrypted = client.quantum.encrypt(
            # The server names a bad algorithm (400): the CLI passes what it was given.
            plaintext,
            key_id=key_id,
            algorithm=cast("Cipher | None", algorithm),
            aad=_aad(aad),
        )
    write_json(encrypted.to_dict(), out)


@app.command("decrypt")
def decrypt(
    source: str = typer.Option(..., "--in", help="Envelope file from `encrypt`, or -."),
    aad: str | None = typer.Option(None, "--aad", help="The associated data given to encrypt."),
    out: str | None = typer.Option(None, "--out", help="Plaintext file (default stdout)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with base64 plaintext."),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
) -> None:
    """Decrypt an envelope; writes the plaintext bytes (exit 2 if anything was altered)."""
    from qcos import Encrypted

    document = read_document(source, "envelope")
    try:
        encrypted = Encrypted.from_dict(document)
    except (KeyError, TypeError, ValueError):
        bad_document("envelope", source)
    with api_client(api_key, base_url) as client:
        plaintext = client.quantum.decrypt(encrypted, aad=_aad(aad))
    if as_json:
        body = {
            "plaintext": base64.b64encode(plaintext).decode(),
            "key_id": encrypted.key_id,
            "algorithm": encrypted.algorithm,
        }
        write_json(body, out)
    else:
        write_output(plaintext, out)


@app.command("sign")
def sign(
    source: str = typer.Option(..., "--in", help="Message file, or - for stdin."),
    key_id: str | None = typer.Option(
        None, "--key-id", help="An existing signing key; its own algorithm is used."
    ),
    algorithm: str | None = typer.Option(
        None,
        "--algorithm",
        help="Ed25519 (default), ML-DSA-65, Ed25519+ML-DSA-65 or SHA3-512-RSA.",
    ),
    out: str | None = typer.Option(None, "--out", help="Signature file (default stdout)."),
    as_json: bool = typer.Option(
        True, "--json", help="Accepted for symmetry: the signature is JSON in any case."
    ),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
) -> None:
    """Sign a file; prints the signature JSON that `crypto verify --signature` takes."""
    message = read_input(source)
    with api_client(api_key, base_url) as client:
        signature = client.quantum.sign(
            message, key_id=key_id, algorithm=cast("SignatureAlgorithm | None", algorithm)
        )
    write_json(signature.to_dict(), out)


@app.command("verify")
def verify(
    source: str = typer.Option(..., "--in", help="Message file, or - for stdin."),
    signature_file: str = typer.Option(..., "--signature", help="Signature JSON from `sign`."),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        exists=True,
        dir_okay=False,
        help="Check against this PEM instead of the server's copy of the signing key.",
    ),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
) -> None:
    """Verify a signature (exit status 0 valid, 1 invalid, 2 usage or API error)."""
    from qcos import Signature

    message = read_input(source)
    document = read_document(signature_file, "signature")
    try:
        signature = Signature.from_dict(document)
    except (KeyError, TypeError, ValueError):
        bad_document("signature", signature_file)
    pem = public_key.read_text() if public_key is not None else None
    with api_client(api_key, base_url) as client:
        valid = client.quantum.verify(
            message,
            signature,
            key_id=None if pem else signature.key_id,
            public_key=pem,
        )
    if as_json:
        print_json({"valid": valid, "algorithm": signature.algorithm, "key_id": signature.key_id})
    else:
        typer.echo("valid" if valid else "INVALID")
    raise typer.Exit(0 if valid else 1)
