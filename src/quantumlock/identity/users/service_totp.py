"""TOTP two-factor (RFC 6238, pyotp): enrolment, confirmation, recovery codes, and the
second-factor check at sign-in. The secret rests sealed under the master key."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

import pyotp

from quantumlock.core.actor import Actor
from quantumlock.core.errors import Conflict, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.identity.models import User, UserRecoveryCode, UserToken, totp_aad
from quantumlock.identity.users.service_base import UserServiceBase

TOTP_STEP = 30
TOTP_WINDOW = 1  # one step either side: clocks drift
RECOVERY_CODES = 10
# A TOTP step a user signed in with, kept (as a hashed user_tokens row) until it can no
# longer be valid, so the same code is not accepted twice.
USED_STEP = "totp_step"
# Lower-case letters and digits without look-alikes (0/o, 1/l/i): read off paper.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


def _is_totp_code(code: str) -> bool:
    # ASCII only: str.isdigit() also takes fullwidth or Arabic-Indic digits, which
    # hmac.compare_digest refuses with a TypeError (a 500 at sign-in).
    return len(code) == 6 and code.isascii() and code.isdigit()


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
        # A concurrent sign-in with the same code inserts the same hash: one of them wins.
        spent = self.repo.add_once(
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
        return spent

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
        digest = self.hasher.digest(f"recovery:{user.id}:{normal}")
        if not self.repo.spend_recovery_code(user.id, digest, self.now()):
            return None
        self.session.flush()
        return "recovery_code"

    # -- enrolment ------------------------------------------------------------------------------

    def _self_or_admin(self, actor: Actor, user_id: str, acting_user_id: str | None) -> User:
        user = self.user_in_account(actor, user_id)
        self.check_rank(actor, acting_user_id, user.role)
        return user

    def start_totp(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        issuer: str = "QuantumLock",
    ) -> tuple[User, str, str]:
        """A new secret, pending until confirmed with a code: (user, secret, otpauth URI).
        Both are shown once; the secret rests sealed. Refused (409) while 2FA is on."""
        user = self._self_or_admin(actor, user_id, acting_user_id)
        if user.totp_enabled_at is not None:
            raise Conflict("Two-factor authentication is already on: turn it off first.")
        secret = pyotp.random_base32()
        user.sealed_totp_secret = self.sealer.seal(secret.encode(), totp_aad(user.id))
        user.updated_at = self.now()
        self.session.flush()
        uri = pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(
            name=user.email, issuer_name=issuer
        )
        return user, secret, uri

    def confirm_totp(
        self,
        actor: Actor,
        user_id: str,
        code: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> list[str]:
        """Turn 2FA on with a first valid code; the 10 recovery codes (shown once)."""
        user = self._self_or_admin(actor, user_id, acting_user_id)
        if user.totp_enabled_at is not None:
            raise Conflict("Two-factor authentication is already on.")
        if user.sealed_totp_secret is None:
            raise Conflict("Start the enrolment first (POST .../totp).")
        if not self.check_totp(user, code.strip()):
            raise ValidationFailed("code: not a valid code for this secret.", field="code")
        now = self.now()
        user.totp_enabled_at = now
        user.updated_at = now
        codes = self._new_recovery_codes(user)
        self.event(
            user,
            "user.totp_enable",
            actor_id=acting_user_id or actor.key_id,
            address=address,
            mode=actor.mode,
        )
        self.session.flush()
        return codes

    def _new_recovery_codes(self, user: User) -> list[str]:
        self.repo.drop_recovery_codes(user.id)
        now = self.now()
        codes = []
        for _ in range(RECOVERY_CODES):
            raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
            codes.append(f"{raw[:5]}-{raw[5:]}")
            self.repo.add(
                UserRecoveryCode(
                    user_id=user.id,
                    code_hash=self.hasher.digest(f"recovery:{user.id}:{raw}"),
                    created_at=now,
                )
            )
        return codes

    def disable_totp(
        self,
        actor: Actor,
        user_id: str,
        *,
        acting_user_id: str | None = None,
        address: str | None = None,
    ) -> User:
        """2FA off (or a pending enrolment dropped); the recovery codes go too."""
        user = self._self_or_admin(actor, user_id, acting_user_id)
        was_on = user.totp_enabled_at is not None
        user.sealed_totp_secret = None
        user.totp_enabled_at = None
        user.updated_at = self.now()
        self.repo.drop_recovery_codes(user.id)
        if was_on:
            self.event(
                user,
                "user.totp_disable",
                actor_id=acting_user_id or actor.key_id,
                address=address,
                mode=actor.mode,
            )
        self.session.flush()
        return user
