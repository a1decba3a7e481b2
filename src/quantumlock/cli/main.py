from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import typer

from quantumlock.bootstrap import MasterKeyError, api_key_hasher, load_keyring
from quantumlock.cli import accounts, audit, crypto, entropy, keys, keystore, licenses
from quantumlock.cli.common import (
    account_service,
    check_master_key,
    console,
    fail,
    initialised_engine,
    open_session,
    private_data_dir,
    settings,
)
from quantumlock.db import migrate
from quantumlock.observability.logging import configure_cli_logging

app = typer.Typer(
    name="quantumlock",
    help="QuantumLock: API keys, licensing and quantum-seeded cryptography.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)


@app.callback()
def _setup() -> None:
    configure_cli_logging()


app.add_typer(accounts.app, name="accounts")
app.add_typer(keys.app, name="keys")
app.add_typer(licenses.app, name="licenses")
app.add_typer(crypto.app, name="crypto")
app.add_typer(keystore.app, name="keystore")
app.command("entropy")(entropy.entropy)
app.command("audit")(audit.audit)
# Through the API (SDK), like `crypto`: registered here, beside licenses' operator commands.
licenses.app.command("events")(audit.license_events)

BOOTSTRAP_FILE = "admin-key.json"


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


@app.command()
def init(
    bootstrap: bool = typer.Option(
        True, help="Create a first account and admin key when the database has none."
    ),
    plan: str = typer.Option("business", help="Plan of the bootstrap account."),
) -> None:
    """Create the data dir, master key and database (runs migrations). Safe to run again."""
    cfg = settings()
    cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_data_dir(cfg)
    if cfg.master_key is None and not cfg.master_key_path.exists():
        _write_private(cfg.master_key_path, base64.b64encode(secrets.token_bytes(32)).decode())
        console.print(f"Created master key {cfg.master_key_path} (0600). Back it up.")
    try:
        hasher = api_key_hasher(cfg)
    except MasterKeyError as exc:
        fail(str(exc))
    migrate.upgrade(cfg.resolved_database_url)
    console.print("Database is up to date.")
    with initialised_engine(cfg) as engine:
        check_master_key(cfg, engine)
    # Only after the canary opened: a wrong key must not re-sign or re-seal anything.
    licenses.resign_legacy_licenses(cfg)
    keystore.reseal_legacy_rows(cfg)  # sealed keys bound to their account and mode (once)
    if not bootstrap:
        return
    key_file = cfg.data_dir / BOOTSTRAP_FILE
    with open_session(cfg) as session:
        service = account_service(session)
        if service.list():
            if key_file.exists():
                console.print(f"Admin API key: see {key_file}")
            return
        created = service.create(
            name="Default account", email="admin@localhost", plan=plan, hasher=hasher
        )
    payload = {"id": created.account.id, "api_key": created.admin_key.secret}
    _write_private(key_file, json.dumps(payload, indent=2) + "\n")
    console.print(
        f"Created account {created.account.id}; its admin API key is in {key_file} (0600)."
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to bind."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (pre-fork)."),
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    cfg = settings()
    try:
        load_keyring(cfg)
    except MasterKeyError as exc:
        fail(str(exc))
    private_data_dir(cfg)
    with initialised_engine(cfg) as engine:
        # Before listening: a wrong key would otherwise serve, healthy, refusing every secret.
        check_master_key(cfg, engine)  # the canary's one small model; no domain models
    key_file = cfg.data_dir / BOOTSTRAP_FILE
    if key_file.exists():
        console.print(f"Admin API key: see {key_file}")
    console.print(f"Serving on http://{host}:{port} (docs at /docs)")
    uvicorn.run(
        "quantumlock.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app writes its own JSON access log
        # Behind a load balancer, the client address (per-address brute-force guard, logs)
        # comes from X-Forwarded-For, trusted only from QL_FORWARDED_ALLOW_IPS: set by the
        # app's own middleware (quantumlock.web.proxy): right-most untrusted hop, also for "*".
        proxy_headers=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
