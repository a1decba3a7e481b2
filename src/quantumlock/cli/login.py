"""`quantumlock login | logout | whoami`: the vendor's saved API profiles."""

from __future__ import annotations

import os

import typer

from quantumlock.cli import config
from quantumlock.cli.api import API_KEY, BASE_URL, DEFAULT_BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, console, fail, print_json
from quantumlock.cli.output import AS_JSON, ts


def _me_json(me: object, *, profile: str | None, base_url: str, key: str) -> dict[str, object]:
    from qcos import Me

    assert isinstance(me, Me)  # noqa: S101
    return {
        "profile": profile,
        "base_url": base_url,
        "key": config.mask(key),
        "key_id": me.key_id,
        "account_id": me.account_id,
        "type": me.type,
        "mode": me.mode,
        "scopes": me.scopes,
        "expires_at": ts(me.expires_at),
    }


def login(
    profile: str = typer.Option(
        config.DEFAULT_PROFILE, "--profile", help="Name to save the key under."
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        show_default=False,
        help="The key to save. Default: $QCOS_API_KEY, else asked for (hidden input).",
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", show_default=False, help="Default: $QCOS_BASE_URL, else local."
    ),
    verify: bool = typer.Option(True, help="Check the key against the server first."),
    as_json: bool = AS_JSON,
) -> None:
    """Save an API key (and server URL) as a profile for the vendor commands.

    The config file is written owner-only (0600); only a masked prefix of the key is ever
    printed. `quantumlock logout` removes it.
    """
    key = api_key or os.environ.get("QCOS_API_KEY")
    if not key:
        key = typer.prompt("API key", hide_input=True).strip()
    url = (base_url or os.environ.get("QCOS_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    try:
        saved = config.load()
    except config.ConfigError as exc:
        fail(str(exc), USAGE, code="CONFIG_ERROR")
    data: dict[str, object] = {"profile": profile, "base_url": url, "key": config.mask(key)}
    if verify:
        with api_client(key, url) as api:
            me = api.call(api.client.me, "check the key")
        data = _me_json(me, profile=profile, base_url=url, key=key)
    saved.profiles[profile] = config.Profile(api_key=key, base_url=url)
    try:
        config.save(saved)
    except config.ConfigError as exc:
        fail(str(exc), USAGE, code="CONFIG_ERROR")
    data["config"] = str(saved.path)
    if as_json:
        print_json(data)
        return
    who = f" (key {data['key_id']}, account {data['account_id']})" if verify else ""
    console.print(
        f"Saved profile {profile!r}: {config.mask(key)} for {url}{who} in {saved.path} (0600).",
        highlight=False,
    )


def logout(
    profile: str = typer.Option(config.DEFAULT_PROFILE, "--profile", help="Profile to forget."),
    as_json: bool = AS_JSON,
) -> None:
    """Remove a saved profile (the file goes when nothing is left in it).

    The key itself stays valid: revoke it with `quantumlock keys revoke` if it leaked.
    """
    try:
        saved = config.load()
        if saved.profiles.pop(profile, None) is None:
            fail(f"no profile {profile!r} in {saved.path}", USAGE, code="NO_PROFILE")
        deleted = config.remove_if_empty(saved)
    except config.ConfigError as exc:
        fail(str(exc), USAGE, code="CONFIG_ERROR")
    if as_json:
        print_json({"profile": profile, "config": str(saved.path), "file_deleted": deleted})
        return
    console.print(
        f"Removed profile {profile!r} from {saved.path}{' (now deleted)' if deleted else ''}.",
        highlight=False,
    )


def whoami(
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
    as_json: bool = AS_JSON,
) -> None:
    """Which key, account and server the vendor commands would use (key masked)."""
    with api_client(api_key, base_url, profile) as api:
        me = api.call(api.client.me, "look the key up")
    credentials = api.credentials
    data = _me_json(me, profile=profile, base_url=credentials.base_url, key=credentials.api_key)
    data["source"] = credentials.source
    if as_json:
        print_json(data)
        return
    for name, value in data.items():
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        console.print(f"{name:>10}: {'' if shown is None else shown}", highlight=False)
