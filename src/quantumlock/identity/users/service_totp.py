"""TOTP two-factor (RFC 6238, pyotp): enrolment, confirmation, recovery codes, and the
second-factor check at sign-in. The secret rests sealed under the master key."""

from __future__ import annotations

import hmac
from datetime import timedelta

import pyotp

from quantumlock.core.clock import as_utc
from quantumlock.core.ids import new_id
from quantumlock.identity.models import User, UserToken, totp_aad
from quantumlock.identity.users.service_base import UserServiceBase

TOTP_STEP = 30
TOTP_WINDOW = 1  # one step either side: clocks drift
RECOVERY_CODES = 10
# A TOTP step a user signed in with, kept (as a hashed user_tokens row) until it can no
# longer be valid, so the same code is not accepted twice.
USED_STEP = "totp_step"


def _is_totp_code(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


def normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


class UserTotp(UserServiceBase):
    def _totp_secret(self, user: User) -> str | None:
        if user.sealed_totp_secret is None:
            return None
        return self.sealer.open(user.sealed_totp_secret, totp_aad(user.id)).decode()

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step `code` is valid for (now, or one step either side), or None."""
        totp = pyotp.TOTP(secret, interval=TOTP_STEP)
        now = self.now()
        for offset in range(-TOTP_WINDOW, TOTP_WINDOW + 1):
            at = now + timedelta(seconds=offset * TOTP_STEP)
            if hmac.compare_digest(totp.at(at), code):
                return int(at.timestamp()) // TOTP_STEP
        return None

    def _spend_step(self, user: User, step: int) -> bool:
        """Record that `step` was used; False if it already was (a replayed code)."""
        now = self.now()
        self.repo.purge_tokens(user.id, USED_STEP, now)
        digest = self.hasher.digest(f"totp-step:{user.id}:{step}")
        if self.repo.token_by_hash(digest) is not None:
            return False
        self.repo.add(
            UserToken(
                id=new_id("utk"),
                user_id=user.id,
                purpose=USED_STEP,
                token_hash=digest,
                created_at=now,
                expires_at=now + timedelta(seconds=TOTP_STEP * (2 * TOTP_WINDOW + 2)),
                used_at=now,
            )
        )
        self.session.flush()
        return True

    def check_totp(self, user: User, code: str) -> bool:
        secret = self._totp_secret(user)
        if secret is None or not _is_totp_code(code):
            return False
        step = self._matching_step(secret, code)
        return step is not None and self._spend_step(user, step)

    def second_factor(self, user: User, code: str) -> str | None:
        """`totp` or `recovery_code` if `code` is a valid, unused one of the user's."""
        if _is_totp_code(code):
            return "totp" if self.check_totp(user, code) else None
        normal = normalise_recovery_code(code)
        if not normal or len(normal) > 64:
            return None
        row = self.repo.recovery_code(user.id, self.hasher.digest(f"recovery:{user.id}:{normal}"))
        if row is None or row.used_at is not None:
            return None
        row.used_at = self.now()
        self.session.flush()
        return "recovery_code"

    def totp_enabled(self, user: User) -> bool:
        return user.totp_enabled_at is not None and as_utc(user.totp_enabled_at) <= self.now()
