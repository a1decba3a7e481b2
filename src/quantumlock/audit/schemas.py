from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from quantumlock.audit.repository import AuditRow
from quantumlock.audit.service import EventType
from quantumlock.core.clock import as_utc

_PREFIX = {"license": "lev", "api_key": "kev", "identity": "iev"}


class AuditEventOut(BaseModel):
    id: str = Field(
        description="Unique within the account: `lev_…` (license), `kev_…` (key), `iev_…` "
        "(identity: users, sign-ins, OAuth clients, service accounts, tokens)"
    )
    type: EventType
    at: datetime
    actor_key_id: str = Field(
        description="Who acted: an API key (`key_…`), a user (`usr_…`), an OAuth client "
        "(`client_…`), a service account (`service_…`), or `cli` for the operator"
    )
    mode: Literal["live", "test"]
    object_type: Literal[
        "license", "api_key", "user", "oauth_client", "service_account", "token", "saml_connection"
    ]
    object_id: str = Field(
        description="`lic_…`, `key_…`, `usr_…`, `client_…`, `service_…`, `saml_…`, …"
    )
    license_key: str | None = Field(description="The license's key (license events only)")
    address: str | None = Field(
        default=None, description="The client's address, where known (identity events)"
    )
    detail: dict[str, Any] = Field(description="What changed; never a secret")

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEventOut:
        if row.source == "identity":
            event_type = row.action
            kind = event_type.partition(".")[0]
            object_type = "user" if kind == "session" else kind
            if kind == "saml":
                # Configuration changes name the connection; sign-ins name a user when there
                # is one, else the connection the attempt came through.
                is_user = row.object_id.startswith("usr_")
                object_type = "user" if is_user else "saml_connection"
        else:
            event_type = f"{row.source}.{row.action}"
            object_type = row.source
        return cls(
            id=f"{_PREFIX[row.source]}_{row.id}",
            type=event_type,
            at=as_utc(row.at),
            actor_key_id=row.actor_key_id,
            mode=row.mode,
            object_type=object_type,
            object_id=row.object_id,
            license_key=row.license_key,
            address=row.address,
            detail=dict(row.detail),
        )


class AuditPageOut(BaseModel):
    events: list[AuditEventOut] = Field(description="Newest first")
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
