"""Who acts: the one caller type every service takes (and the audit trail records)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# What the audit trail names when an operator acts through the CLI (no API key).
OPERATOR_KEY_ID = "cli"


class ActorKind(StrEnum):
    API_KEY = "api_key"  # a request authenticated by an API key
    OPERATOR = "operator"  # the operator, through the CLI on the data dir


@dataclass(frozen=True, slots=True)
class Actor:
    """The account acted for, its mode (live | test) and the key id for the audit trail.

    Built in one place per entry point: `Principal.actor` for the API, `Actor.operator`
    for the CLI. Services take it and never look at HTTP or at the key's scopes.
    """

    account_id: str
    mode: str  # live | test
    key_id: str  # the API key acting; OPERATOR_KEY_ID for the CLI
    kind: ActorKind = ActorKind.API_KEY

    @property
    def is_test(self) -> bool:
        return self.mode == "test"

    @classmethod
    def operator(cls, account_id: str, *, test: bool = False) -> Actor:
        return cls(account_id, "test" if test else "live", OPERATOR_KEY_ID, ActorKind.OPERATOR)
