from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from quantumlock.audit.repository import AuditRow
from quantumlock.audit.service import EventType
from quantumlock.core.clock import as_utc


class AuditEventOut(BaseModel):
    id: str = Field(description="Unique within the account: `lev_…` (license), `kev_…` (key)")
    type: EventType
    at: datetime
    actor_key_id: str = Field(description="The API key that acted (`key_…`), or the operator")
    mode: Literal["live", "test"]
    object_type: Literal["license", "api_key"]
    object_id: str = Field(description="`lic_…` or `key_…`")
    license_key: str | None = Field(description="The license's key (license events only)")
    detail: dict[str, Any] = Field(description="What changed; never a secret")

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEventOut:
        prefix = "lev" if row.source == "license" else "kev"
        return cls(
            id=f"{prefix}_{row.id}",
            type=f"{row.source}.{row.action}",
            at=as_utc(row.at),
            actor_key_id=row.actor_key_id,
            mode=row.mode,
            object_type=row.source,
            object_id=row.object_id,
            license_key=row.license_key,
            detail=dict(row.detail),
        )


class AuditPageOut(BaseModel):
    events: list[AuditEventOut] = Field(description="Newest first")
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
