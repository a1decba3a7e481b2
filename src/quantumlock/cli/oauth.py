"""`quantumlock oauth signing-keys list | rotate | retire`: the provider's token signing keys
(operator, on the data dir). A rotation makes a new active key and keeps the previous one
publishing (verify-only) until `retire`; running servers reload within the change feed's
interval. Private keys stay sealed under the master key."""

from __future__ import annotations

from typing import Any

import typer

from quantumlock.bootstrap import make_sealer
from quantumlock.cli.common import USAGE, console, fail, open_session, print_json, settings
from quantumlock.cli.output import AS_JSON, cell, ts
from quantumlock.core.clock import DurationError, parse_duration, utcnow

app = typer.Typer(help="The OAuth / OpenID Connect provider (operator).", no_args_is_help=True)
signing_keys = typer.Typer(help="Token signing keys (ES256, RS256).", no_args_is_help=True)
app.add_typer(signing_keys, name="signing-keys")


def _row(key: Any) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "status": key.status,
        "created_at": ts(key.created_at),
        "retired_at": ts(key.retired_at),
    }


def _service(session: Any) -> Any:
    from quantumlock.identity.signing import SigningKeyService

    return SigningKeyService(session, make_sealer(settings()))


@signing_keys.command("list")
def list_keys(as_json: bool = AS_JSON) -> None:
    """Every signing key: active (signs), verify_only (published), retired."""
    with open_session(settings()) as session:
        rows = [_row(k) for k in _service(session).list()]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print("  ".join(cell(row[f]) for f in ("kid", "alg", "status", "created_at")))


@signing_keys.command("rotate")
def rotate(
    alg: str = typer.Option("ES256", "--alg", help="ES256 (ID and access tokens) or RS256."),
    as_json: bool = AS_JSON,
) -> None:
    """A new active key for ALG; the previous one keeps verifying until retired."""
    from quantumlock.identity.signing import ALGORITHMS

    if alg not in ALGORITHMS:
        fail(f"--alg must be one of {', '.join(ALGORITHMS)}", USAGE, code="USAGE_ERROR")
    with open_session(settings()) as session:
        row = _row(_service(session).rotate(alg))
    if as_json:
        print_json(row)
    else:
        console.print(f"New active {alg} signing key {row['kid']}.", highlight=False)


@signing_keys.command("retire")
def retire(
    older_than: str = typer.Option(
        "1d", "--older-than", help="Retire verify-only keys made longer ago than this (1d)."
    ),
    as_json: bool = AS_JSON,
) -> None:
    """Stop publishing verify-only keys older than --older-than (tokens they signed expired
    long ago: access tokens live 15 minutes, ID tokens an hour)."""
    try:
        age = parse_duration(older_than)
    except DurationError as exc:
        fail(str(exc), USAGE, code="USAGE_ERROR")
    with open_session(settings()) as session:
        retired = _service(session).retire(utcnow() - age)
    if as_json:
        print_json({"retired": retired})
    else:
        console.print(f"Retired {len(retired)} key(s).", highlight=False)
