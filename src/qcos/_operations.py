"""What each SDK method sends and how it reads the answer: shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from qcos._models import ApiKey, CreatedKey, Me

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    unwrap: bool = True  # /api/v2 bodies are {"data": ...}; /api/v1 bodies are bare

    @property
    def idempotent(self) -> bool:
        return self.method in {"GET", "HEAD", "DELETE", "PUT"}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _no_content(_: Any) -> None:
    return None


def _without_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def me() -> Operation[Me]:
    return Operation("GET", "/api/v2/me", Me.from_dict)


def list_keys() -> Operation[list[ApiKey]]:
    return Operation(
        "GET", "/api/v2/keys", lambda data: [ApiKey.from_dict(k) for k in data["keys"]]
    )


def create_key(
    name: str, scopes: list[str] | None, expires_in: str | None, key_type: str | None
) -> Operation[CreatedKey]:
    body = _without_none(name=name, scopes=scopes, expires_in=expires_in, type=key_type)
    return Operation("POST", "/api/v2/keys", CreatedKey.from_dict, json=body)


def revoke_key(key_id: str) -> Operation[None]:
    return Operation("DELETE", f"/api/v2/keys/{_segment(key_id)}", _no_content)


def rotate_key(key_id: str, grace_period: str) -> Operation[CreatedKey]:
    return Operation(
        "POST",
        f"/api/v2/keys/{_segment(key_id)}/rotate",
        CreatedKey.from_dict,
        json={"grace_period": grace_period},
    )
