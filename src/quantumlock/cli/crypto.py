"""`quantumlock crypto encrypt|decrypt|sign|verify`: tenant operations through the API (SDK).

Vendor commands: they need no database or master key, only an API key (see
`quantumlock.cli.api`). Exit status: 0 done (or valid), 1 invalid signature, 2 usage or API
error.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

from quantumlock.cli import digest
from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, err_console, fail, print_json

if TYPE_CHECKING:
    from qcos import Cipher, SignatureAlgorithm

app = typer.Typer(
    help="Encrypt, decrypt, sign and verify with keys held by the server (scope "
    "quantum:crypto). Files of any size are signed by their SHA-512 digest.",
    no_args_is_help=True,
)

AS_JSON = typer.Option(False, "--json", help="Print JSON.")
STDIO = "-"


def read_input(source: str) -> bytes:
    if source == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}", USAGE, code="FILE_ERROR")


def write_output(data: bytes, target: str | None) -> None:
    if target is None or target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}", USAGE, code="FILE_ERROR")


def write_json(data: dict[str, Any], target: str | None) -> None:
    if target is None or target == STDIO:
        print_json(data)
    else:
        write_output((json.dumps(data, indent=2) + "\n").encode(), target)


def read_document(source: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(read_input(source))
    except (json.JSONDecodeError, UnicodeDecodeError):
        fail(f"{what} {source} is not JSON.", USAGE, code="USAGE_ERROR")
    if not isinstance(data, dict):
        fail(f"{what} {source} must be a JSON object.", USAGE, code="USAGE_ERROR")
    return data


def bad_document(what: str, source: str) -> NoReturn:
    fail(f"{what} {source} lacks a field or holds malformed base64.", USAGE, code="USAGE_ERROR")


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
    profile: str | None = PROFILE,
) -> None:
    """Encrypt a file; prints the JSON envelope (key_id, algorithm, iv, tag, ciphertext)."""
    plaintext = read_input(source)
    with api_client(api_key, base_url, profile) as api:
        # With --key-id alone the server uses the key's own algorithm.
        encrypted = api.call(
            lambda: api.client.quantum.encrypt(
                # The server names a bad algorithm (400): the CLI passes what it was given.
                plaintext,
                key_id=key_id,
                algorithm=cast("Cipher | None", algorithm),
                aad=_aad(aad),
            ),
            "encrypt",
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
    profile: str | None = PROFILE,
) -> None:
    """Decrypt an envelope; writes the plaintext bytes (exit 2 if anything was altered)."""
    from qcos import Encrypted

    document = read_document(source, "envelope")
    try:
        encrypted = Encrypted.from_dict(document)
    except (KeyError, TypeError, ValueError):
        bad_document("envelope", source)
    with api_client(api_key, base_url, profile) as api:
        plaintext = api.call(
            lambda: api.client.quantum.decrypt(encrypted, aad=_aad(aad)), "decrypt"
        )
    if as_json:
        body = {
            "plaintext": base64.b64encode(plaintext).decode(),
            "key_id": encrypted.key_id,
            "algorithm": encrypted.algorithm,
        }
        write_json(body, out)
    else:
        write_output(plaintext, out)


def _source(file: str | None, source: str | None) -> str:
    chosen = file if file is not None else source
    if chosen is None:
        fail("name the file to sign or verify (or - for stdin)", USAGE, code="USAGE_ERROR")
    if file is not None and source is not None and file != source:
        fail("give the file once: as FILE or as --in", USAGE, code="USAGE_ERROR")
    return chosen


def _digest(source: str) -> digest.FileDigest:
    try:
        return digest.digest_of(source, err_console, stdin=STDIO)
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror}", USAGE, code="FILE_ERROR")


FILE = typer.Argument(None, show_default=False, help="The file (any size), or - for stdin.")
IN = typer.Option(None, "--in", show_default=False, help="The same as FILE (older form).")


@app.command("sign")
def sign(
    file: str | None = FILE,
    source: str | None = IN,
    key_id: str | None = typer.Option(
        None, "--key-id", help="An existing signing key; its own algorithm is used."
    ),
    algorithm: str | None = typer.Option(
        None,
        "--algorithm",
        help="Ed25519 (default), ML-DSA-65, Ed25519+ML-DSA-65 or SHA3-512-RSA.",
    ),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="Sign the bytes themselves, not their digest (small inputs only; for verifiers "
        "that check the message as it is).",
    ),
    out: str | None = typer.Option(None, "--out", help="Signature file (default stdout)."),
    as_json: bool = typer.Option(
        True, "--json", help="Accepted for symmetry: the signature is JSON in any case."
    ),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Sign a file of any size by its SHA-512 digest; prints the signature JSON.

    The file is hashed here (streamed; a progress bar for large files) and the server signs
    the digest statement; the JSON, which `crypto verify --signature` takes, records the
    mode and the digest.
    """
    chosen = _source(file, source)
    metadata: dict[str, Any] = {}
    if raw:
        message = read_input(chosen)
        if message.startswith(digest.MAGIC):
            fail("--raw: the input starts like a file-digest statement; sign the file itself "
                 "(without --raw) instead.", USAGE, code="USAGE_ERROR")  # fmt: skip
    else:
        hashed = _digest(chosen)
        message, metadata = hashed.statement, hashed.metadata()
    with api_client(api_key, base_url, profile) as api:
        signature = api.call(
            lambda: api.client.quantum.sign(
                message, key_id=key_id, algorithm=cast("SignatureAlgorithm | None", algorithm)
            ),
            "sign",
        )
    write_json({**signature.to_dict(), **metadata}, out)


@app.command("verify")
def verify(
    file: str | None = FILE,
    source: str | None = IN,
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
    profile: str | None = PROFILE,
) -> None:
    """Verify a file against its signature JSON (exit 0 valid, 1 invalid, 2 error).

    The signature's recorded mode says how: by digest (hashed here, streamed) or, for
    signatures made with --raw or before digests, the bytes themselves.
    """
    from qcos import Signature

    chosen = _source(file, source)
    document = read_document(signature_file, "signature")
    try:
        signature = Signature.from_dict(document)
    except (KeyError, TypeError, ValueError):
        bad_document("signature", signature_file)
    mode = document.get("mode")
    recorded = document.get("digest")
    if mode is None:
        message = read_input(chosen)
        local_digest = None
    elif mode == digest.MODE and document.get("digest_algorithm") == digest.ALGORITHM:
        hashed = _digest(chosen)
        message, local_digest = hashed.statement, hashed.digest.hex()
    else:
        fail(f"signature {signature_file}: unknown mode {mode!r}", USAGE, code="USAGE_ERROR")
    if mode is None and message.startswith(digest.MAGIC):
        valid = False  # a digest statement never passes as a file's own bytes (digest.py)
    elif local_digest is not None and recorded is not None and recorded != local_digest:
        valid = False  # the file changed since it was signed: no need to ask the server
    else:
        pem = public_key.read_text() if public_key is not None else None
        with api_client(api_key, base_url, profile) as api:
            valid = api.call(
                lambda: api.client.quantum.verify(
                    message, signature, key_id=None if pem else signature.key_id, public_key=pem
                ),
                "verify",
            )
    if as_json:
        print_json(
            {
                "valid": valid,
                "algorithm": signature.algorithm,
                "key_id": signature.key_id,
                "mode": mode or "raw",
                "digest": local_digest,
            }
        )
    else:
        typer.echo("valid" if valid else "INVALID")
    raise typer.Exit(0 if valid else 1)
