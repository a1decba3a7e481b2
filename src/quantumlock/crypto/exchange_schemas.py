"""Request and response bodies of /api/v1/quantum/crypto/key-exchange (docs/quantum-api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quantumlock.crypto.encoding import b64_chars

KexAlgorithm = Literal["X25519", "X25519-ML-KEM-768"]
MAX_PUBLIC = 2048  # the largest public value is 32 + 1184 bytes


class KeyExchangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    peer_public_key: str | None = Field(
        default=None,
        max_length=b64_chars(MAX_PUBLIC),
        description="The other party's public value, standard base64. Absent to initiate.",
    )
    key_bits: int = Field(default=256, ge=128, le=512, multiple_of=8)
    algorithm: KexAlgorithm = "X25519"
    session_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The initiator's session, to complete it with the responder's public value.",
    )


class KeyExchangeOut(BaseModel):
    session_id: str
    public_key: str
    shared_secret: str | None
    algorithm: KexAlgorithm
    key_bits: int
    expires_at: datetime
