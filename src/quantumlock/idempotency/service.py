"""The rules of idempotency keys, as Stripe has them (no HTTP here; the web layer adapts).

A request with a key first *claims* it, in a short transaction of its own, so that a second
request with the same key, on any node, sees it in flight. The request's effect and its
answer are then committed together in the request's own transaction (`answer`): a crash
never leaves an effect without its answer or an answer without its effect. A request that
ends without an answer (an error, a crash of the handler) releases its claim, so a retry
executes again: nothing of the first attempt was committed. A claim whose request died
with its process is taken over after `LOCK_TIMEOUT`.

Answers are kept `TTL` (24 h) from the key's first use; after that the key is new again,
and expired records are pruned. What is stored is sealed under the master key: an answer
may show a secret (a new API key, exportable key material, a shared secret).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.errors import Conflict
from quantumlock.idempotency.models import record_aad
from quantumlock.idempotency.repository import IdempotencyRepository
from quantumlock.keyring.sealing import Sealer

TTL = timedelta(hours=24)
# A request holds its claim at most this long: past it, the process is taken to be gone and
# a retry may execute again (one still running then fails to answer, and its effect is
# rolled back: see `answer`).
LOCK_TIMEOUT = timedelta(minutes=2)


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_detail = (
        "This Idempotency-Key was already used with a different request (method, path or "
        "body) in the last 24 hours; use a new key for a new request."
    )


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    default_detail = (
        "A request with this Idempotency-Key is still in progress; retry after it finishes "
        "to get its answer."
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds `key` of `account_id`/`mode` until it answers or releases it."""

    account_id: str
    mode: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A response as it is replayed: status, body, headers and the quota it reported."""

    status_code: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    quota: tuple[Any, ...] | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "body": base64.b64encode(self.body).decode(),
                "headers": self.headers,
                "quota": self.quota,
            }
        )

    @classmethod
    def from_bytes(cls, status_code: int, raw: bytes) -> StoredAnswer:
        data = orjson.loads(raw)
        quota = data.get("quota")
        return cls(
            status_code,
            base64.b64decode(data["body"]),
            tuple((str(k), str(v)) for k, v in data["headers"]),
            None if quota is None else tuple(quota),
        )


class IdempotencyService:
    def __init__(
        self, session: Session, sealer: Sealer, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.repo = IdempotencyRepository(session)
        self.sealer = sealer
        self.now = now

    def claim(self, account_id: str, mode: str, key: str, fingerprint: str) -> Claim | StoredAnswer:
        """Claim `key` for a request with `fingerprint`, or the answer stored for it.

        Run in a transaction of its own, committed before the request's effect. Raises
        IdempotencyKeyReused (another request's key) or IdempotencyKeyInUse (in flight).
        """
        now = self.now()
        token = secrets.token_hex(16)
        claim = Claim(account_id, mode, key, token)
        record = self.repo.get(account_id, mode, key)
        if record is None:
            try:
                self.repo.insert_claim(account_id, mode, key, fingerprint, token, now)
                return claim
            except IntegrityError:  # claimed by another request in the meantime
                self.session.rollback()
                record = self.repo.get(account_id, mode, key)
                if record is None:
                    raise IdempotencyKeyInUse from None
        if as_utc(record.created_at) <= now - TTL:  # expired: the key is new again
            return self._take_over(claim, record.token, fingerprint, now, fresh=True)
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused
        if record.status_code is not None and record.sealed is not None:
            raw = self.sealer.open(record.sealed, record_aad(account_id, mode, key))
            return StoredAnswer.from_bytes(record.status_code, raw)
        if as_utc(record.locked_at) <= now - LOCK_TIMEOUT:  # its request is gone
            return self._take_over(claim, record.token, fingerprint, now, fresh=False)
        raise IdempotencyKeyInUse

    def _take_over(
        self, claim: Claim, old_token: str, fingerprint: str, now: datetime, *, fresh: bool
    ) -> Claim:
        taken = self.repo.take_over(
            claim.account_id,
            claim.mode,
            claim.key,
            old_token=old_token,
            fingerprint=fingerprint,
            token=claim.token,
            now=now,
            fresh=fresh,
        )
        if not taken:  # another request took it first
            raise IdempotencyKeyInUse
        return claim

    def answer(self, claim: Claim, answer: StoredAnswer) -> None:
        """Store `answer` for `claim`, in the transaction of the request's effect (flush
        only). IdempotencyKeyInUse if the claim was taken over meanwhile: the caller's
        transaction must then roll back, so the effect does not happen twice."""
        aad = record_aad(claim.account_id, claim.mode, claim.key)
        sealed = self.sealer.seal(answer.to_bytes(), aad)
        stored = self.repo.answer(
            claim.account_id, claim.mode, claim.key, claim.token, answer.status_code, sealed
        )
        if not stored:
            raise IdempotencyKeyInUse(
                "This request held its Idempotency-Key too long and another request took it "
                "over; nothing was changed. Retry with the same key to get that request's answer."
            )

    def release(self, claim: Claim) -> None:
        """Forget a claim that got no answer, so that a retry executes again."""
        self.repo.release(claim.account_id, claim.mode, claim.key, claim.token)

    def prune(self) -> int:
        """Delete the records older than the 24 h window; how many went."""
        return self.repo.prune(self.now() - TTL)
