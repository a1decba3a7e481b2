"""`quantumlock keystore`: your account's keystore keys, through the API (scope quantum:keys).

The operator's master keyring moved to `quantumlock master-key`; its old names here
(`keystore status | rotate-master | retire-master`) still work, hidden from the help.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from quantumlock.cli import master_key
from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, console, err_console, fail, print_json
from quantumlock.cli.output import AS_JSON, WIDE, print_table, ts

if TYPE_CHECKING:
    from qcos import EntropySource, KeyAlgorithm, QuantumKey, RsaBits

app = typer.Typer(
    help="Keystore keys of your account through the API: create, list, show, delete "
    "(key material never leaves the server unless created --exportable, and then once).",
    no_args_is_help=True,
)

ALGORITHMS = (
    "AES-256-GCM, ChaCha20-Poly1305, Ed25519, ML-DSA-65, Ed25519+ML-DSA-65, X25519, ML-KEM-768"
)


def key_json(key: QuantumKey) -> dict[str, Any]:
    """The API's key fields (never material), timestamps as the API wrote them."""
    data: dict[str, Any] = {
        "key_id": key.key_id,
        "algorithm": key.algorithm,
        "type": key.type,
        "source": key.source,
        "security_level": key.security_level,
        "quantum_verified": key.quantum_verified,
        "version": key.version,
        "exportable": key.exportable,
        "public_key": key.public_key,
        "created_at": ts(key.created_at),
    }
    if key.bits is not None:
        data["bits"] = key.bits
    return data


def _show(key: QuantumKey, as_json: bool, material: _Material | None = None) -> None:
    data = key_json(key)
    if key.key is not None:
        if material is None:
            data["key"] = base64.b64encode(key.key).decode()
        else:
            material.write(key.key)
    if as_json:
        print_json(data)
        return
    for name, value in data.items():
        if name in ("public_key", "key"):
            continue
        console.print(f"{name:>16}: {'' if value is None else value}", highlight=False)
    if "key" in data:
        console.print(f"{'key (base64)':>16}: {data['key']}  (shown once)", highlight=False)


class _Material:
    """The --out file of an exportable key, created (0600, new) before the key is: the
    material comes once, so a file that cannot be written must fail first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            fail(f"cannot create {path}: {exc.strerror}", USAGE, code="FILE_ERROR")

    def write(self, data: bytes) -> None:
        assert self.fd is not None  # noqa: S101
        with os.fdopen(self.fd, "wb") as handle:
            handle.write(data)
        self.fd = None
        err_console.print(f"Key material written to {self.path} (0600, shown once).")

    def discard(self) -> None:
        """The key was not created (or not exportable): leave no empty file behind."""
        if self.fd is not None:
            os.close(self.fd)
            self.path.unlink(missing_ok=True)
            self.fd = None


@contextmanager
def _material(out: Path | None, exportable: bool) -> Iterator[_Material | None]:
    if out is not None and not exportable:
        fail("--out needs --exportable: other keys never leave the server", USAGE,
             code="USAGE_ERROR")  # fmt: skip
    material = _Material(out) if out is not None else None
    try:
        yield material
    finally:
        if material is not None:
            material.discard()


EXPORT_OUT = typer.Option(
    None,
    "--out",
    dir_okay=False,
    help="With --exportable: write the raw key material to this new file (0600) instead of "
    "printing it.",
)


@app.command("create")
def create(
    algorithm: str = typer.Option(..., "--algorithm", help=ALGORITHMS + "."),
    exportable: bool = typer.Option(
        False, "--exportable", help="Return the material in this answer (only this once)."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Entropy source: qcos_api, qiskit_local or cryptographic."
    ),
    out: Path | None = EXPORT_OUT,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create a key in the keystore."""
    with _material(out, exportable) as material:
        with api_client(api_key, base_url, profile) as api:
            key = api.call(
                lambda: api.client.quantum.create_key(
                    # The server names a bad algorithm or source (400).
                    cast("KeyAlgorithm", algorithm),
                    exportable=exportable,
                    source=cast("EntropySource | None", source),
                ),
                "create a keystore key",
            )
        _show(key, as_json, material)


@app.command("rsa")
def rsa(
    bits: int = typer.Option(3072, "--bits", help="2048, 3072 or 4096."),
    exportable: bool = typer.Option(False, "--exportable", help="Return the PKCS#8 DER once."),
    out: Path | None = EXPORT_OUT,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create an RSA key pair (signs with SHA3-512-RSA); may take a few seconds."""
    with _material(out, exportable) as material:
        with api_client(api_key, base_url, profile) as api:
            key = api.call(
                lambda: api.client.quantum.rsa(cast("RsaBits", bits), exportable=exportable),
                "create an RSA key",
            )
        _show(key, as_json, material)


@app.command("list")
def list_keys(
    skip: int = typer.Option(0, "--skip", min=0),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    as_json: bool = AS_JSON,
    wide: bool = WIDE,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """List keystore keys, newest first (never material)."""
    with api_client(api_key, base_url, profile) as api:
        page = api.call(
            lambda: api.client.quantum.list_keys(skip=skip, limit=limit), "list keystore keys"
        )
    rows = [key_json(k) for k in page.keys]
    if as_json:
        print_json({"keys": rows, "total": page.total, "skip": page.skip, "limit": page.limit})
        return
    columns = ("key_id", "algorithm", "type", "source", "exportable", "created_at")
    print_table(
        columns,
        ([r[c] for c in columns] for r in rows),
        wide=wide,
        ids=("key_id",),
        title=f"{page.total} key(s)",
    )


@app.command("get")
def get(
    key_id: str = typer.Argument(..., help="Key id (key_…)."),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Show a key (its public key in --json)."""
    with api_client(api_key, base_url, profile) as api:
        key = api.call(lambda: api.client.quantum.get_key(key_id), f"get {key_id}")
    _show(key, as_json)


@app.command("delete")
def delete(
    key_id: str = typer.Argument(..., help="Key id (key_…)."),
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Destroy a key's material; what it encrypted can no longer be decrypted."""
    with api_client(api_key, base_url, profile) as api:
        api.call(lambda: api.client.quantum.delete_key(key_id), f"delete {key_id}")
    if as_json:
        print_json({"key_id": key_id, "deleted": True})
    else:
        console.print(f"Deleted {key_id}.", highlight=False)


# The operator's master-key commands under their former names (scripts and runbooks).
app.command("status", hidden=True)(master_key.status)
app.command("rotate-master", hidden=True)(master_key.rotate_master)
app.command("retire-master", hidden=True)(master_key.retire_master)
