"""`quantumlock sso saml`: the account's SAML single sign-on connection, through the API
(scope admin). The IdP's metadata comes from a file or a URL that THIS command fetches
(https only, at most 1 MiB, 10 s): the server never fetches a URL."""

from __future__ import annotations

import dataclasses
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from quantumlock.cli.api import API_KEY, BASE_URL, PROFILE, api_client
from quantumlock.cli.common import USAGE, console, fail, print_json
from quantumlock.cli.output import AS_JSON, ts

if TYPE_CHECKING:
    from qcos import SamlConnection, SamlFields

app = typer.Typer(
    help="Single sign-on for your account's users (scope admin).", no_args_is_help=True
)
saml = typer.Typer(
    help="The account's SAML identity provider (Okta, Azure AD / Entra ID, Auth0, custom).",
    no_args_is_help=True,
)
app.add_typer(saml, name="saml")

MAX_METADATA_BYTES = 1024 * 1024
FETCH_TIMEOUT = 10.0


class PresetChoice(StrEnum):
    custom = "custom"
    okta = "okta"
    azure_ad = "azure_ad"
    auth0 = "auth0"


class SsoRoleChoice(StrEnum):
    admin = "admin"
    member = "member"
    viewer = "viewer"


def fetch_metadata(url: str) -> str:
    """The IdP's metadata from `url`: https only (redirects too), at most 1 MiB, 10 s."""
    import httpx

    if not url.lower().startswith("https://"):
        fail("--metadata-url: must be an https URL.", USAGE, code="USAGE_ERROR")

    def https_only(request: httpx.Request) -> None:
        if request.url.scheme != "https":
            raise httpx.UnsupportedProtocol(f"redirected to {request.url.scheme}://")

    deadline = time.monotonic() + FETCH_TIMEOUT
    try:
        with (
            httpx.Client(
                timeout=FETCH_TIMEOUT,
                follow_redirects=True,
                max_redirects=3,
                event_hooks={"request": [https_only]},
            ) as http,
            http.stream("GET", url, headers={"Accept": "application/xml"}) as answer,
        ):
            if answer.status_code != 200:
                fail(f"--metadata-url answered {answer.status_code}.", code="METADATA_FETCH")
            body = bytearray()
            for chunk in answer.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_METADATA_BYTES:
                    fail("--metadata-url: larger than 1 MiB.", code="METADATA_FETCH")
                # httpx's timeout is per read: a server dripping bytes would outlast it.
                if time.monotonic() > deadline:
                    fail(
                        f"--metadata-url: not read within {FETCH_TIMEOUT:g} s.",
                        code="METADATA_FETCH",
                    )
    except httpx.HTTPError as exc:
        fail(f"--metadata-url: {type(exc).__name__}: {exc}", code="METADATA_FETCH")
    try:
        return body.decode()
    except UnicodeDecodeError:
        fail("--metadata-url: the answer is not UTF-8 text.", code="METADATA_FETCH")


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option} {path}: {exc}", USAGE, code="USAGE_ERROR")


def _group_roles(values: list[str]) -> dict[str, Any] | None:
    if not values:
        return None
    out: dict[str, Any] = {}
    for value in values:
        group, sep, role = value.rpartition("=")
        if not sep or not group or role not in SsoRoleChoice.__members__:
            fail(
                f"--group-role {value!r}: GROUP=ROLE with ROLE admin, member or viewer.",
                USAGE,
                code="USAGE_ERROR",
            )
        out[group] = role
    return out


def _fields(options: dict[str, Any]) -> SamlFields:
    """The API's fields from the command's options (None: not given)."""
    metadata_file, metadata_url = options["metadata_file"], options["metadata_url"]
    if metadata_file is not None and metadata_url is not None:
        fail("give --metadata-file or --metadata-url, not both.", USAGE, code="USAGE_ERROR")
    xml = _read(metadata_file, "--metadata-file") if metadata_file is not None else None
    if metadata_url is not None:
        xml = fetch_metadata(metadata_url)
    certificates = [_read(p, "--certificate") for p in options["certificate"]] or None
    attributes: dict[str, str | None] = {
        key: options[f"{key}_attribute"]
        for key in ("email", "name", "groups")
        if options[f"{key}_attribute"] is not None
    }
    if options["email_from_name_id"]:
        attributes["email"] = None  # the NameID is the email
    fields: dict[str, Any] = {
        "idp_metadata_xml": xml,
        "idp_entity_id": options["entity_id"],
        "idp_sso_url": options["sso_url"],
        "idp_slo_url": options["slo_url"],
        "idp_certificates": certificates,
        "preset": options["preset"].value if options["preset"] else None,
        "attributes": attributes or None,
        "jit_provisioning": options["jit"],
        "default_role": options["default_role"].value if options["default_role"] else None,
        "group_roles": _group_roles(options["group_role"]),
        "allow_idp_initiated": options["idp_initiated"],
        "sso_required": options["sso_required"],
        "clock_skew_seconds": options["clock_skew"],
        "enabled": options["enabled"],
    }
    return {k: v for k, v in fields.items() if v is not None}  # type: ignore[return-value]


def connection_json(conn: SamlConnection) -> dict[str, Any]:
    """The API's field names and values."""
    data = dataclasses.asdict(conn)
    for cert in data["idp"]["certificates"]:
        cert["not_after"] = ts(cert["not_after"])
    data["created_at"], data["updated_at"] = ts(conn.created_at), ts(conn.updated_at)
    return data


def show(conn: SamlConnection, as_json: bool) -> None:
    if as_json:
        print_json(connection_json(conn))
        return
    a = conn.attributes
    rows = [
        ("id", conn.id),
        ("preset", conn.preset),
        ("enabled", conn.enabled),
        ("idp entity id", conn.idp.entity_id),
        ("idp sso url", conn.idp.sso_url),
        ("idp slo url", conn.idp.slo_url or "-"),
        *(
            ("idp certificate", f"{c.fingerprint_sha256} {c.subject} until {ts(c.not_after)}")
            for c in conn.idp.certificates
        ),
        ("email attribute", a.email if a.email is not None else "(the NameID)"),
        ("name attribute", a.name),
        ("groups attribute", a.groups),
        ("jit provisioning", conn.jit_provisioning),
        ("default role", conn.default_role),
        ("group roles", ", ".join(f"{g}={r}" for g, r in conn.group_roles.items()) or "-"),
        ("idp-initiated", conn.allow_idp_initiated),
        ("sso required", conn.sso_required),
        ("clock skew", f"{conn.clock_skew_seconds} s"),
        ("sp entity id", conn.sp.entity_id),
        ("sp acs url", conn.sp.acs_url),
        ("sp metadata", conn.sp.metadata_url),
    ]
    for label, value in rows:
        console.print(f"{label:>16}: {value}", highlight=False, markup=False)


# Options shared by configure and update.
METADATA_FILE = typer.Option(None, "--metadata-file", help="The IdP's SAML metadata XML.")
METADATA_URL = typer.Option(
    None, "--metadata-url", help="Fetch the IdP's metadata here (https, ≤ 1 MiB, 10 s)."
)
ENTITY_ID = typer.Option(None, "--entity-id", help="The IdP's entity id (issuer).")
SSO_URL = typer.Option(None, "--sso-url", help="The IdP's HTTP-Redirect SSO URL.")
SLO_URL = typer.Option(None, "--slo-url", help="The IdP's HTTP-Redirect single-logout URL.")
CERTIFICATE = typer.Option(
    [], "--certificate", help="A file with an IdP signing certificate (PEM); repeatable."
)
PRESET = typer.Option(None, "--preset", help="Attribute names of okta, azure_ad, auth0, custom.")
EMAIL_ATTR = typer.Option(None, "--email-attribute", help="Attribute holding the email.")
EMAIL_NAME_ID = typer.Option(False, "--email-from-name-id", help="The NameID is the email.")
NAME_ATTR = typer.Option(None, "--name-attribute", help="Attribute holding the name.")
GROUPS_ATTR = typer.Option(None, "--groups-attribute", help="Attribute holding the groups.")
DEFAULT_ROLE = typer.Option(None, "--default-role", help="A provisioned user's role.")
GROUP_ROLE = typer.Option([], "--group-role", help="GROUP=ROLE (repeatable); never owner.")
JIT = typer.Option(None, "--jit/--no-jit", help="Create users at their first sign-in.")
IDP_INITIATED = typer.Option(None, "--idp-initiated/--no-idp-initiated")
SSO_REQUIRED = typer.Option(
    None, "--sso-required/--no-sso-required", help="Password sign-in off (owners keep it)."
)
CLOCK_SKEW = typer.Option(None, "--clock-skew", help="Seconds of clock difference (0-300).")
ENABLED = typer.Option(None, "--enabled/--disabled")


@saml.command("show")
def show_command(
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Show the connection and what to give the IdP (SP entity id, ACS URL)."""
    with api_client(api_key, base_url, profile) as api:
        conn = api.call(api.client.sso.saml.get, "get the SAML connection")
    show(conn, as_json)


@saml.command("configure")
def configure(
    metadata_file: Path | None = METADATA_FILE,
    metadata_url: str | None = METADATA_URL,
    entity_id: str | None = ENTITY_ID,
    sso_url: str | None = SSO_URL,
    slo_url: str | None = SLO_URL,
    certificate: list[Path] = CERTIFICATE,
    preset: PresetChoice | None = PRESET,
    email_attribute: str | None = EMAIL_ATTR,
    email_from_name_id: bool = EMAIL_NAME_ID,
    name_attribute: str | None = NAME_ATTR,
    groups_attribute: str | None = GROUPS_ATTR,
    default_role: SsoRoleChoice | None = DEFAULT_ROLE,
    group_role: list[str] = GROUP_ROLE,
    jit: bool | None = JIT,
    idp_initiated: bool | None = IDP_INITIATED,
    sso_required: bool | None = SSO_REQUIRED,
    clock_skew: int | None = CLOCK_SKEW,
    enabled: bool | None = ENABLED,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Create or replace the connection (what is not given takes its default; the SP
    certificate stays). The IdP: --metadata-file/--metadata-url, or --entity-id, --sso-url
    and --certificate."""
    fields = _fields(locals())
    with api_client(api_key, base_url, profile) as api:
        conn = api.call(lambda: api.client.sso.saml.configure(**fields), "configure SAML")
    show(conn, as_json)


@saml.command("update")
def update(
    metadata_file: Path | None = METADATA_FILE,
    metadata_url: str | None = METADATA_URL,
    entity_id: str | None = ENTITY_ID,
    sso_url: str | None = SSO_URL,
    slo_url: str | None = SLO_URL,
    no_slo: bool = typer.Option(False, "--no-slo", help="No single logout with the IdP."),
    certificate: list[Path] = CERTIFICATE,
    preset: PresetChoice | None = PRESET,
    email_attribute: str | None = EMAIL_ATTR,
    email_from_name_id: bool = EMAIL_NAME_ID,
    name_attribute: str | None = NAME_ATTR,
    groups_attribute: str | None = GROUPS_ATTR,
    default_role: SsoRoleChoice | None = DEFAULT_ROLE,
    group_role: list[str] = GROUP_ROLE,
    jit: bool | None = JIT,
    idp_initiated: bool | None = IDP_INITIATED,
    sso_required: bool | None = SSO_REQUIRED,
    clock_skew: int | None = CLOCK_SKEW,
    enabled: bool | None = ENABLED,
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Change only what is given (--certificate replaces the whole list: give the old and
    the new one during a roll-over)."""
    fields = _fields(locals())
    if not fields and not no_slo:
        fail("nothing to change: give at least one option.", USAGE, code="USAGE_ERROR")
    with api_client(api_key, base_url, profile) as api:
        conn = api.call(
            lambda: api.client.sso.saml.update(remove_slo_url=no_slo, **fields), "update SAML"
        )
    show(conn, as_json)


@saml.command("delete")
def delete(
    as_json: bool = AS_JSON,
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Delete the connection: SSO sign-in stops (users with a password can use it again)."""
    with api_client(api_key, base_url, profile) as api:
        api.call(api.client.sso.saml.delete, "delete the SAML connection")
    if as_json:
        print_json({"deleted": True})
    else:
        console.print("Deleted the SAML connection.", highlight=False)


@saml.command("sp-metadata")
def sp_metadata(
    api_key: str | None = API_KEY,
    base_url: str | None = BASE_URL,
    profile: str | None = PROFILE,
) -> None:
    """Print this service's signed SP metadata XML (give it to the IdP)."""
    import httpx

    with api_client(api_key, base_url, profile) as api:
        conn = api.call(api.client.sso.saml.get, "get the SAML connection")
        url = f"{api.credentials.base_url}/saml/{conn.account_id}/metadata"
        try:
            answer = httpx.get(url, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            fail(f"{url}: {type(exc).__name__}: {exc}", code="API_CONNECTION_ERROR")
    if answer.status_code != 200:
        fail(f"{url} answered {answer.status_code}.", code="NOT_FOUND")
    typer.echo(answer.text, nl=not answer.text.endswith("\n"))
