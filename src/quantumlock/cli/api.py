"""The vendor commands' way to the server: the SDK, with credentials from flags, the
environment or a saved profile, and rate-limit waits that say what they wait for.

Which key and server (the first that applies):
  1. `--api-key` / `--base-url` (each overrides what follows, for its own value);
  2. `--profile NAME` (or $QUANTUMLOCK_PROFILE): that profile of `quantumlock login`;
  3. $QCOS_API_KEY / $QCOS_BASE_URL;
  4. the `default` profile, if `quantumlock login` saved one.
The key and server of one source go together: an environment key is never sent to a
profile's server, nor a profile's key to $QCOS_BASE_URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import typer

from quantumlock.cli import config
from quantumlock.cli.common import USAGE, err_console, fail

if TYPE_CHECKING:
    from qcos import Client, QCOSError

T = TypeVar("T")

API_KEY = typer.Option(
    None,
    "--api-key",
    show_default=False,
    help="API key. Default: --profile's, else $QCOS_API_KEY, else the `default` profile of "
    "`quantumlock login`. Prefer those: a flag shows in the process list.",
)
BASE_URL = typer.Option(
    None,
    "--base-url",
    show_default=False,
    help="Server URL. Default: the key's source ($QCOS_BASE_URL or the profile), "
    "else http://127.0.0.1:8000.",
)
PROFILE = typer.Option(
    None,
    "--profile",
    envvar="QUANTUMLOCK_PROFILE",
    show_default=False,
    help="A profile saved by `quantumlock login --profile NAME`.",
)
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Key generation (RSA above all) can take seconds on a busy server.
TIMEOUT = 120.0
# The CLI retries a per-minute rate limit itself (saying so); past this it gives up.
MAX_WAITS = 3
MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Credentials:
    api_key: str
    base_url: str
    source: str  # for messages: "--api-key", "QCOS_API_KEY", "profile 'default' (path)"


def _profile(saved: config.Config, name: str) -> config.Profile | None:
    return saved.profiles.get(name)


def resolve(api_key: str | None, base_url: str | None, profile: str | None) -> Credentials:
    """The credentials to use, or a clean `error: NO_API_KEY` naming where it looked."""
    try:
        saved = config.load()
    except config.ConfigError as exc:
        fail(str(exc), USAGE, code="CONFIG_ERROR")
    key: str | None = None
    url: str | None = None
    source = ""
    if profile is not None:
        chosen = _profile(saved, profile)
        if chosen is None:
            fail(
                f"no profile {profile!r} in {saved.path}: run `quantumlock login --profile "
                f"{profile}`",
                USAGE,
                code="NO_PROFILE",
            )
        key, url, source = chosen.api_key, chosen.base_url, f"profile {profile!r} ({saved.path})"
    elif os.environ.get("QCOS_API_KEY"):
        key, url = os.environ["QCOS_API_KEY"], os.environ.get("QCOS_BASE_URL")
        source = "QCOS_API_KEY/QCOS_BASE_URL"
    elif (default := _profile(saved, config.DEFAULT_PROFILE)) is not None:
        key, url = default.api_key, default.base_url
        source = f"profile 'default' ({saved.path})"
    else:
        url = os.environ.get("QCOS_BASE_URL")
    if source.startswith("profile") and config.readable_by_others(saved.path):
        err_console.print(
            f"warning: {saved.path} holds API keys and is readable by others: chmod 600 it",
            highlight=False,
            markup=False,
        )
    if api_key:
        key, source = api_key, "--api-key"
    if not key:
        fail(
            "no API key: pass --api-key, set QCOS_API_KEY, or run `quantumlock login` "
            f"(no profile in {saved.path})",
            USAGE,
            code="NO_API_KEY",
        )
    return Credentials(key, (base_url or url or DEFAULT_BASE_URL).rstrip("/"), source)


def _quota_reset(error: QCOSError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    reset = body.get("quota_reset_at")
    return f" Resets at {reset}." if reset else ""


def _is_quota(error: QCOSError) -> bool:
    body = error.body if isinstance(error.body, dict) else {}
    return type(error).__name__ == "QuotaExceededError" or body.get("reason") == "monthly_quota"


def report(error: QCOSError, credentials: Credentials | None = None) -> None:
    """`error: CODE: detail [request_id=…]`: the server's words, never the key or payload.
    When no answer came back, the server it tried (and where that URL came from)."""
    from qcos import APIConnectionError

    request = f" [request_id={error.request_id}]" if error.request_id else ""
    extra = _quota_reset(error) if _is_quota(error) else ""
    if isinstance(error, APIConnectionError) and credentials is not None:
        origin = "" if credentials.source == "--api-key" else f", from {credentials.source}"
        extra += f" (server {credentials.base_url}{origin})"
    fail(f"{error.detail}{extra}{request}", USAGE, code=error.code)


class Api:
    """One command's client; `api.call(fn, what)` runs an SDK call, waiting out per-minute
    rate limits (at most MAX_WAITS times, each announced on stderr). A monthly quota is
    never waited for: it is reported at once with its reset date."""

    def __init__(self, client: Client, credentials: Credentials) -> None:
        self.client = client
        self.credentials = credentials

    def call(self, fn: Callable[[], T], what: str) -> T:
        from qcos import RateLimitError

        waits = 0
        while True:
            try:
                return fn()
            except RateLimitError as error:
                if _is_quota(error) or waits >= MAX_WAITS or error.retry_after > MAX_WAIT_SECONDS:
                    raise
                waits += 1
                err_console.print(
                    f"waiting {error.retry_after} s for the rate limit ({error.code}: "
                    f"{error.detail}) before retrying to {what} "
                    f"(wait {waits} of {MAX_WAITS})",
                    highlight=False,
                    markup=False,
                )
                time.sleep(error.retry_after)


@contextmanager
def api_client(
    api_key: str | None, base_url: str | None, profile: str | None = None
) -> Iterator[Api]:
    """An SDK client for the command; any QCOSError ends the command as `error: CODE: …`
    (exit 2)."""
    # The SDK (and httpx) load with the commands that call the API, not with every command:
    # `quantumlock serve` would otherwise pay ~0.2 s of its cold start for them.
    from qcos import Client, QCOSError

    credentials = resolve(api_key, base_url, profile)
    try:
        # max_retries=0: the CLI waits out rate limits itself (Api.call), and says so.
        client = Client(
            api_key=credentials.api_key,
            base_url=credentials.base_url,
            timeout=TIMEOUT,
            max_retries=0,
        )
        with client:
            yield Api(client, credentials)
    except QCOSError as exc:
        report(exc, credentials)


def has_credentials(api_key: str | None, profile: str | None) -> bool:
    """Whether a vendor command could authenticate (for commands with an operator twin)."""
    if api_key or profile or os.environ.get("QCOS_API_KEY"):
        return True
    try:
        return config.DEFAULT_PROFILE in config.load().profiles
    except config.ConfigError:
        return True  # let resolve() report the broken file
