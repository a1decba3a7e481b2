from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from quantumlock.bootstrap import MasterKeyError, api_key_hasher, load_keyring
from quantumlock.cli import (
    accounts,
    audit,
    config,
    crypto,
    datadir,
    entropy,
    keys,
    keystore,
    licenses,
    login,
    master_key,
    oauth,
    oauth_clients,
    service_accounts,
    sso,
    users,
)
from quantumlock.cli.common import (
    account_service,
    check_master_key,
    console,
    data_dir,
    database_location,
    err_console,
    fail,
    initialised_engine,
    open_session,
    print_json,
    private_data_dir,
    settings,
)
from quantumlock.db import migrate
from quantumlock.observability.logging import configure_cli_logging

if TYPE_CHECKING:
    from quantumlock.keyring.hasher import KeyHasher
    from quantumlock.settings import Settings

VENDOR, OPERATOR = "Vendor (through the API)", "Operator (on the data dir)"

app = typer.Typer(
    name="quantumlock",
    help="QuantumLock: API keys, licensing and quantum-seeded cryptography.\n\n"
    "Vendor commands talk to a server through the API: QCOS_API_KEY / QCOS_BASE_URL, "
    "--api-key / --base-url, or a profile saved by `quantumlock login`. Operator commands "
    "act on a deployment's data directory: --data-dir, QL_DATA_DIR, the config file's "
    "\\[operator] data_dir (recorded by `init`), else ./.quantumlock.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)

DATA_DIR = typer.Option(
    None,
    "--data-dir",
    show_default=False,
    help="Operator commands: the deployment's data directory (default: $QL_DATA_DIR, the "
    "config file's \\[operator] data_dir, else ./.quantumlock).",
)


@app.callback()
def _setup(data_dir_option: Path | None = DATA_DIR) -> None:
    configure_cli_logging()
    datadir.set_override(data_dir_option)


app.command("login", rich_help_panel=VENDOR)(login.login)
app.command("logout", rich_help_panel=VENDOR)(login.logout)
app.command("whoami", rich_help_panel=VENDOR)(login.whoami)
app.add_typer(keys.app, name="keys", rich_help_panel=VENDOR)
app.add_typer(users.app, name="users", rich_help_panel=VENDOR)
app.add_typer(sso.app, name="sso", rich_help_panel=VENDOR)
app.add_typer(licenses.app, name="licenses", rich_help_panel=VENDOR)
app.add_typer(keystore.app, name="keystore", rich_help_panel=VENDOR)
app.add_typer(crypto.app, name="crypto", rich_help_panel=VENDOR)
app.command("entropy", rich_help_panel=VENDOR)(entropy.entropy)
app.command("audit", rich_help_panel=VENDOR)(audit.audit)
licenses.app.command("events")(audit.license_events)
app.add_typer(service_accounts.app, name="service-accounts", rich_help_panel=VENDOR)
app.add_typer(oauth_clients.app, name="oauth-clients", rich_help_panel=VENDOR)
app.add_typer(accounts.app, name="accounts", rich_help_panel=OPERATOR)
app.add_typer(master_key.app, name="master-key", rich_help_panel=OPERATOR)
app.add_typer(oauth.app, name="oauth", rich_help_panel=OPERATOR)

BOOTSTRAP_FILE = "admin-key.json"


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def _guard_second_deployment(where: datadir.DataDir, saved: config.Config) -> None:
    """`init` never silently starts a second deployment when one is recorded already."""
    recorded = saved.data_dir
    if where.origin == datadir.CONFIG:
        if not where.path.exists():
            fail(
                f"{saved.path} records the data dir {where.path}, which does not exist: "
                "restore it, or create a new deployment with `quantumlock init --data-dir PATH`",
                code="DEPLOYMENT_MISSING",
            )
        local = datadir.local_default()
        if local != where.path:
            err_console.print(
                f"Using the deployment recorded in {saved.path}: {where.path}. To create a "
                f"separate one here instead: quantumlock init --data-dir {local}",
                highlight=False,
            )
    elif recorded is not None and recorded.exists() and recorded.resolve() != where.path.resolve():
        err_console.print(
            f"Note: this is a separate deployment ({where.describe()}); {saved.path} records "
            f"another at {recorded}, which the operator commands keep using unless given "
            "--data-dir or QL_DATA_DIR.",
            highlight=False,
        )


def _record(where: datadir.DataDir, saved: config.Config) -> None:
    """Remember a deployment made in the default place (./.quantumlock), so that operator
    commands find it from any directory. One named by --data-dir or QL_DATA_DIR is not
    recorded: it is named wherever it is used (services, scripts, tests)."""
    if where.origin != datadir.CWD:
        return
    saved.data_dir = where.path
    try:
        config.save(saved)
    except config.ConfigError as exc:
        err_console.print(f"Not recorded: {exc}", highlight=False)
        return
    console.print(f"Recorded the data dir {where.path} in {saved.path}.", highlight=False)


@app.command(rich_help_panel=OPERATOR)
def init(
    data_dir_option: Path | None = DATA_DIR,
    bootstrap: bool = typer.Option(
        True, help="Create a first account and admin key when the database has none."
    ),
    plan: str = typer.Option("business", help="Plan of the bootstrap account."),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON summary (never the admin key); messages go to stderr."
    ),
) -> None:
    """Create the data dir, master key and database (runs migrations). Safe to run again.

    The data dir: --data-dir, else $QL_DATA_DIR, else the one recorded in the config file
    (init then re-runs on that deployment, from any directory, and says so), else
    ./.quantumlock, which is then recorded in the config file. A second deployment is made
    only when named with --data-dir or QL_DATA_DIR.
    """
    datadir.set_override(data_dir_option)
    if as_json:
        console.file = sys.stderr  # stdout is the summary's alone
    try:
        saved = config.load()
    except config.ConfigError as exc:
        fail(str(exc), code="CONFIG_ERROR")
    where = data_dir()
    _guard_second_deployment(where, saved)
    cfg = settings()
    try:
        cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        fail(f"cannot create the data dir {where.describe()}: {exc.strerror}", code="DATA_DIR")
    private_data_dir(cfg)
    if cfg.master_key is None and not cfg.master_key_path.exists():
        _write_private(cfg.master_key_path, base64.b64encode(secrets.token_bytes(32)).decode())
        console.print(f"Created master key {cfg.master_key_path} (0600). Back it up.")
    try:
        hasher = api_key_hasher(cfg)
    except MasterKeyError as exc:
        fail(f"{exc} (data dir {where.describe()})", code="MASTER_KEY")
    migrate.upgrade(cfg.resolved_database_url)
    console.print(f"Database is up to date (data dir {where.describe()}).", highlight=False)
    with initialised_engine(cfg) as engine:
        check_master_key(cfg, engine)
    # Only after the canary opened: a wrong key must not re-sign or re-seal anything.
    licenses.resign_legacy_licenses(cfg)
    master_key.reseal_legacy_rows(cfg)  # sealed keys bound to their account and mode (once)
    _record(where, saved)
    summary: dict[str, object] = {
        "data_dir": str(where.path),
        "data_dir_from": where.origin,
        "database": database_location(cfg),
        "master_key": cfg.master_key_source,
        "created_account": None,
        "admin_key_file": None,
    }
    if bootstrap:
        summary.update(_bootstrap(cfg, hasher, plan))
    if as_json:
        print_json(summary)


def _bootstrap(cfg: Settings, hasher: KeyHasher, plan: str) -> dict[str, object]:
    """A first account and its admin key (in a 0600 file) when the database has none."""
    key_file = cfg.data_dir / BOOTSTRAP_FILE
    with open_session(cfg) as session:
        service = account_service(session)
        if service.list():
            if key_file.exists():
                console.print(f"Admin API key: see {key_file}")
                return {"admin_key_file": str(key_file)}
            return {}
        created = service.create(
            name="Default account", email="admin@localhost", plan=plan, hasher=hasher
        )
    payload = {"id": created.account.id, "api_key": created.admin_key.secret}
    _write_private(key_file, json.dumps(payload, indent=2) + "\n")
    console.print(
        f"Created account {created.account.id}; its admin API key is in {key_file} (0600)."
    )
    return {"created_account": created.account.id, "admin_key_file": str(key_file)}


@app.command(rich_help_panel=OPERATOR)
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
        fail(f"{exc} (data dir {data_dir().describe()})", code="MASTER_KEY")
    private_data_dir(cfg)
    with initialised_engine(cfg) as engine:
        # Before listening: a wrong key would otherwise serve, healthy, refusing every secret.
        check_master_key(cfg, engine)  # the canary's one small model; no domain models
    key_file = cfg.data_dir / BOOTSTRAP_FILE
    if key_file.exists():
        console.print(f"Admin API key: see {key_file}")
    # The worker processes read their settings from the environment: the data dir found
    # here (flag, config file or current directory) must be the one they open.
    os.environ["QL_DATA_DIR"] = str(cfg.data_dir)
    if cfg.issuer is None and host not in ("127.0.0.1", "localhost", "::1"):
        # Unset, each request's Host header names the issuer: behind a public address that
        # is the client's to choose (tokens' `iss`, discovery, private_key_jwt audiences).
        err_console.print(
            "Warning: QL_ISSUER is not set; set it to this service's public https URL "
            "(the OAuth issuer) when it is reached from other hosts.",
            highlight=False,
        )
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
