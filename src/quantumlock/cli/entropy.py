"""`quantumlock entropy`: random bits from the server's entropy sources, through the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import typer

from quantumlock.cli.common import err_console, fail, print_json
from quantumlock.cli.crypto import API_KEY, BASE_URL, USAGE, api_client

if TYPE_CHECKING:
    from qcos import EntropyEncoding, EntropySource

ENCODINGS = ("hex", "base64", "raw")
SOURCES = ("qcos_api", "qiskit_local", "cryptographic")


def entropy(
    bits: int = typer.Option(256, "--bits", min=1, max=4096, help="How many bits (1-4096)."),
    encoding: str = typer.Option("hex", "--encoding", help="hex, base64 or raw (a 0/1 string)."),
    source: str | None = typer.Option(
        None,
        "--source",
        help="Force qcos_api, qiskit_local or cryptographic (unavailable: exit 2, no fallback).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole answer as JSON."),
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
) -> None:
    """Print fresh entropy (scope quantum:entropy); where it came from goes to stderr."""
    if encoding not in ENCODINGS:
        fail("--encoding must be hex, base64 or raw.", USAGE)
    if source is not None and source not in SOURCES:
        fail("--source must be qcos_api, qiskit_local or cryptographic.", USAGE)
    with api_client(api_key, base_url) as client:
        # Both checked against the lists above.
        result = client.quantum.entropy(
            bits, cast("EntropyEncoding", encoding), cast("EntropySource | None", source)
        )
    if as_json:
        print_json(
            {
                "entropy": result.entropy,
                "bits": result.bits,
                "encoding": result.encoding,
                "source": result.source,
                "qubits": result.qubits,
                "fidelity": result.fidelity,
                "quantum_verified": result.quantum_verified,
                "security_level": result.security_level,
                "timestamp": result.timestamp.isoformat() if result.timestamp else None,
                "job_id": result.job_id,
            }
        )
        return
    typer.echo(result.entropy)
    err_console.print(
        f"{result.bits} bits from {result.source} ({result.security_level})", highlight=False
    )
