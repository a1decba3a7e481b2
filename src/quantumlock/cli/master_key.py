"""`quantumlock master-key status|rotate|retire`: the master keyring (operator, data dir).

(Formerly `quantumlock keystore status|rotate-master|retire-master`; those names still work.)
Rotation without downtime: `rotate` writes the new key first into the key file
(old keys kept for reading), then re-wraps every sealed blob in batches. Running nodes keep
opening old blobs with the old key and re-read the key file the first time they meet the
new key's id (and within a second when they seal), so none needs a restart.
`retire` then drops the old keys, once no blob needs them.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session, sessionmaker

from quantumlock.bootstrap import MasterKeyError, keyring_file, load_keyring, make_sealer
from quantumlock.cli.common import (
    console,
    data_dir,
    fail,
    initialised_engine,
    print_json,
    settings,
)
from quantumlock.db.engine import make_session_factory
from quantumlock.keyring.sealing import (
    RELOAD_INTERVAL,
    Keyring,
    KeyringError,
    Sealer,
    SealingError,
    key_id,
)
from quantumlock.settings import Settings

app = typer.Typer(
    help="Operator: the master keyring of the data dir (status, rotation, retirement).",
    no_args_is_help=True,
)

AS_JSON = typer.Option(False, "--json", help="Print JSON.")
BATCH = typer.Option(500, "--batch", min=1, max=10_000, help="Rows per transaction.")

ENV_ROTATE_STEPS = """QL_MASTER_KEY is set, so the key file cannot be rewritten. To rotate:
  1. Make a new key: openssl rand -base64 32
  2. On every node put it FIRST in QL_MASTER_KEY, keeping the old key after it
     (QL_MASTER_KEY=<new>,<old>), and restart the nodes one by one.
  3. Run: quantumlock master-key rotate --rewrap-only
  4. Later, `quantumlock master-key retire` tells you when the old key can go."""


@contextmanager
def _sessions(cfg: Settings) -> Iterator[sessionmaker[Session]]:
    from quantumlock.keyring.rewrap import registered_columns

    with initialised_engine(cfg) as engine:
        sessions = make_session_factory(engine)  # loads every model, and so every sealed column
        try:
            registered_columns()
        except KeyringError as exc:  # never rotate past a column the rotation would skip
            fail(str(exc), code="KEYRING_ERROR")
        yield sessions


def _keyring(cfg: Settings) -> Keyring:
    try:
        return load_keyring(cfg)
    except MasterKeyError as exc:
        fail(f"{exc} (data dir {data_dir().describe()})", code="MASTER_KEY")


def _counts_json(sessions: sessionmaker[Session]) -> dict[str, dict[str, int]]:
    from quantumlock.keyring.rewrap import count_by_key

    return {name: dict(counter) for name, counter in count_by_key(sessions).items()}


def _stale(counts: dict[str, dict[str, int]], current: str) -> int:
    return sum(n for per in counts.values() for kid, n in per.items() if kid != current)


def status(as_json: bool = AS_JSON) -> None:
    """Key ids in the keyring (current first) and how many blobs each wraps."""
    cfg = settings()
    ring = _keyring(cfg)
    ids = [key_id(k).hex() for k in ring.keys]
    with _sessions(cfg) as sessions:
        counts = _counts_json(sessions)
    source = cfg.master_key_source
    if as_json:
        print_json({"source": source, "current": ids[0], "keys": ids, "blobs": counts})
        return
    console.print(f"Keyring: {source}; current key {ids[0]}; older: {', '.join(ids[1:]) or '-'}")
    for name, per in counts.items():
        shown = ", ".join(f"{kid}: {n}" for kid, n in sorted(per.items())) or "no blobs"
        console.print(f"  {name}: {shown}")


def rotate_master(
    rewrap_only: bool = typer.Option(
        False, "--rewrap-only", help="No new key: re-wrap every blob under the current key."
    ),
    batch: int = BATCH,
    as_json: bool = AS_JSON,
) -> None:
    """Make a new master key current (old keys kept for reading) and re-wrap every blob."""
    from quantumlock.keyring.rewrap import rewrap_all

    cfg = settings()
    ring = _keyring(cfg)
    file = keyring_file(cfg)
    if not rewrap_only:
        if file is None:
            console.print(ENV_ROTATE_STEPS, highlight=False)
            raise typer.Exit(2)
        ring = Keyring((secrets.token_bytes(32), *ring.keys), ring.api_key_pepper)
        file.write(ring)
        # Nodes re-check the key file at most once a second when sealing: after this pause
        # every node seals under the new key, so the pass below leaves little behind.
        time.sleep(RELOAD_INTERVAL * 1.5)
    sealer = Sealer(ring.keys)
    with _sessions(cfg) as sessions:
        reports = rewrap_all(sessions, sealer, batch=batch)
        counts = _counts_json(sessions)
    stale = _stale(counts, sealer.current_key_id)
    unreadable = sum(r.unreadable for r in reports.values())
    if as_json:
        print_json(
            {
                "current": sealer.current_key_id,
                "new_key": not rewrap_only,
                "tables": {name: vars(r) for name, r in reports.items()},
                "still_under_old_keys": stale,
                "unreadable": unreadable,
            }
        )
        if unreadable:
            raise typer.Exit(1)
        return
    if not rewrap_only:
        console.print(
            f"New master key {sealer.current_key_id} is current ({file.path if file else ''})."
        )
    for name, r in reports.items():
        console.print(
            f"  {name}: {r.rewrapped} re-wrapped, {r.already_current} already current, "
            f"{r.changed_meanwhile} changed meanwhile, {r.unreadable} unreadable"
        )
    if unreadable:
        fail(
            f"{unreadable} blob(s) open under no key of the keyring and were left as they are "
            "(`quantumlock master-key status` shows their key ids).",
            code="UNREADABLE_BLOBS",
        )
    if stale:
        console.print(
            f"{stale} blob(s) were written under an older key during the pass: "
            "run `quantumlock master-key rotate --rewrap-only` again."
        )
    else:
        console.print(
            "Every blob is under the current key; `quantumlock master-key retire` can drop "
            "the old ones."
        )


def retire_master(as_json: bool = AS_JSON) -> None:
    """Drop every master key but the current one, once no blob needs them."""
    from quantumlock.keyring.rewrap import V1, verify_all

    cfg = settings()
    ring = _keyring(cfg)
    current = Sealer(ring.keys[:1])
    with _sessions(cfg) as sessions:
        counts = _counts_json(sessions)
        stale = _stale(counts, current.current_key_id)
        if stale:
            detail = "; ".join(
                f"{name} {kid if kid != V1 else 'v1'}: {n}"
                for name, per in counts.items()
                for kid, n in per.items()
                if kid != current.current_key_id
            )
            fail(
                f"{stale} blob(s) still need an older key ({detail}): "
                "run `quantumlock master-key rotate --rewrap-only` first.",
                code="STALE_BLOBS",
            )
        try:  # prove it: every blob opens with the current key alone
            opened = verify_all(sessions, current)
        except SealingError as exc:
            fail(f"not retiring: {exc}", code="SEALING_ERROR")
    dropped = [key_id(k).hex() for k in ring.keys[1:]]
    file = keyring_file(cfg)
    if file is None:
        console.print(
            "QL_MASTER_KEY is set, so the key file cannot be rewritten. Every blob opens with "
            f"the current key {current.current_key_id}: set QL_MASTER_KEY to it alone on "
            "every node, together with "
            f"QL_API_KEY_PEPPER={base64.b64encode(ring.api_key_pepper).decode()} (API-key "
            "hashes depend on it; keep it as secret as the master key), and restart the "
            "nodes one by one.",
            highlight=False,
        )
        raise typer.Exit(2)
    if dropped:
        file.write(Keyring(ring.keys[:1], ring.api_key_pepper))
    if as_json:
        print_json({"current": current.current_key_id, "retired": dropped, "verified": opened})
        return
    console.print(
        f"Retired {len(dropped)} key(s) ({', '.join(dropped) or 'none'}); "
        f"{sum(opened.values())} blob(s) verified to open with {current.current_key_id} alone."
    )


app.command("status")(status)
app.command("rotate")(rotate_master)
app.command("retire")(retire_master)


def reseal_legacy_rows(cfg: Settings) -> None:
    """Run by `init`: bind keystore and key-exchange blobs sealed before #16 (AAD = id only)
    to their account and mode. A no-op once done."""
    from quantumlock.keyring.rewrap import reseal_legacy

    with _sessions(cfg) as sessions:
        resealed = reseal_legacy(sessions, make_sealer(cfg))
    if resealed:
        console.print(f"Re-sealed {resealed} key blob(s) bound to their account and mode.")
