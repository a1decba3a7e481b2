"""API-key rules: issuing, listing, revoking, rotating, and resolving a presented key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import limits_of_account
from quantumlock.auth.keys import PREFIXES, KeyType, Mode, display_prefix, generate_key
from quantumlock.auth.models import ApiKey, ApiKeyEvent
from quantumlock.auth.principal import Principal
from quantumlock.auth.repository import ApiKeyRepository
from quantumlock.auth.scopes import (
    NON_ADMIN_SCOPES,
    Scope,
    expand,
    parse_scopes,
    sort_scopes,
)
from quantumlock.core.actor import OPERATOR_KEY_ID
from quantumlock.core.clock import DurationError, as_utc, isoformat, parse_duration, utcnow
from quantumlock.core.errors import Conflict, InsufficientScope, NotFound, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.db.pagination import Page
from quantumlock.keyring.hasher import KeyHasher

CHANGE_KIND_KEY = "api_key"
DEFAULT_GRACE_PERIOD = "24h"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class RotatedKey:
    new: IssuedKey
    previous: ApiKey


def principal_from_rows(key: ApiKey, account: Account) -> Principal:
    granted = parse_scopes(key.scopes)
    return Principal(
        key_id=key.id,
        account_id=key.account_id,
        key_type=KeyType(key.type),
        mode=Mode(key.mode),
        granted_scopes=granted,
        scopes=expand(granted),
        expires_at=as_utc(key.expires_at) if key.expires_at else None,
        revoked_at=as_utc(key.revoked_at) if key.revoked_at else None,
        limits=limits_of_account(account),
    )


def _parse_duration_field(value: str, field: str, *, allow_zero: bool = False) -> timedelta:
    try:
        return parse_duration(value, allow_zero=allow_zero)
    except DurationError as exc:
        raise ValidationFailed(f"{field}: {exc}", field=field) from None


class ApiKeyService:
    def __init__(self, session: Session, hasher: KeyHasher) -> None:
        self.session = session
        self.repo = ApiKeyRepository(session)
        self.hasher = hasher

    # -- issuing ---------------------------------------------------------------------------

    def issue(
        self,
        account_id: str,
        *,
        name: str,
        key_type: KeyType,
        mode: Mode,
        scopes: frozenset[Scope],
        lifetime: timedelta | None,
        rotated_from: str | None = None,
        not_after: datetime | None = None,
        actor_key_id: str = OPERATOR_KEY_ID,
        metadata: dict[str, Any] | None = None,
    ) -> IssuedKey:
        """Create a key with already-checked attributes, expiring after `lifetime` but never
        after `not_after` (the expiry of the key that makes it). `actor_key_id`: who makes
        it, for the audit trail (a rotation records itself as one `rotate` event)."""
        secret = generate_key(key_type)
        now = utcnow()
        expires_at = now + lifetime if lifetime else None
        if not_after is not None and (expires_at is None or expires_at > not_after):
            expires_at = not_after
        key = ApiKey(
            id=new_id("key"),
            account_id=account_id,
            name=name,
            type=key_type.value,
            mode=mode.value,
            scopes=sort_scopes(scopes),
            key_hash=self.hasher.digest(secret),
            prefix=display_prefix(secret),
            created_at=now,
            expires_at=expires_at,
            lifetime_seconds=(
                None if expires_at is None else max(1, int((expires_at - now).total_seconds()))
            ),
            rotated_from=rotated_from,
            meta=dict(metadata or {}),
        )
        self.repo.add(key)
        if rotated_from is None:
            detail = {
                "name": name,
                "type": key_type.value,
                "scopes": sort_scopes(scopes),
                "expires_at": isoformat(expires_at),
            }
            self._audit(key, actor_key_id, "create", detail)
        return IssuedKey(key, secret)

    def _audit(self, key: ApiKey, actor_key_id: str, action: str, detail: dict[str, Any]) -> None:
        """One row of the account's audit trail (GET /api/v2/audit), in this unit of work:
        the event lands exactly when the change does."""
        self.repo.add_event(
            ApiKeyEvent(
                account_id=key.account_id,
                api_key_id=key.id,
                mode=key.mode,
                actor_key_id=actor_key_id,
                action=action,
                detail=detail,
                at=utcnow(),
            )
        )

    def create(
        self,
        caller: Principal,
        *,
        name: str,
        scopes: Sequence[str] | None,
        expires_in: str | None,
        key_type: str | None,
        metadata: dict[str, Any] | None = None,
    ) -> IssuedKey:
        """What POST /api/v2/keys allows: never more than the caller holds."""
        requested_type = self._resolve_type(caller, key_type, scopes)
        if requested_type is KeyType.RESTRICTED:
            mode = caller.mode
        else:
            mode = Mode.TEST if requested_type is KeyType.TEST else Mode.LIVE
        if mode is Mode.LIVE and caller.is_test:
            raise InsufficientScope("A test-mode key cannot create live-mode keys.")

        if scopes is None:
            granted = NON_ADMIN_SCOPES
        else:
            if not scopes:
                raise ValidationFailed("scopes: give at least one scope.", field="scopes")
            try:
                granted = parse_scopes(scopes)
            except ValueError as exc:
                raise ValidationFailed(f"scopes: {exc}", field="scopes") from None
            if requested_type is KeyType.RESTRICTED and Scope.ADMIN in granted:
                raise ValidationFailed(
                    "scopes: a restricted key cannot have the admin scope.", field="scopes"
                )
        missing = expand(granted) - caller.scopes
        if missing:
            raise InsufficientScope(
                "Cannot grant scopes the calling key lacks: " + ", ".join(sort_scopes(missing))
            )
        if Scope.ADMIN in granted and not caller.grants_admin:
            raise InsufficientScope("Only an owner can grant the admin scope.")
        # "" is not "no expiry": only an absent (null) expires_in means that.
        lifetime = (
            _parse_duration_field(expires_in, "expires_in") if expires_in is not None else None
        )
        ceiling = caller.expires_at
        if ceiling is not None and lifetime is not None and utcnow() + lifetime > ceiling:
            raise ValidationFailed(
                "expires_in: a key cannot outlive the key that creates it "
                f"(the calling key expires at {isoformat(ceiling)}).",
                field="expires_in",
            )
        issued = self.issue(
            caller.account_id,
            name=name,
            key_type=requested_type,
            mode=mode,
            scopes=granted,
            lifetime=lifetime,
            # No expires_in from an expiring key: the new key expires with it.
            not_after=ceiling,
            actor_key_id=caller.key_id,
            metadata=metadata,
        )
        self.session.flush()
        return issued

    @staticmethod
    def _resolve_type(
        caller: Principal, key_type: str | None, scopes: Sequence[str] | None
    ) -> KeyType:
        if key_type is None:
            if scopes is not None:
                return KeyType.RESTRICTED
            return KeyType.TEST if caller.is_test else KeyType.LIVE
        try:
            resolved = KeyType(key_type)
        except ValueError:
            allowed = ", ".join(t.value for t in PREFIXES)
            raise ValidationFailed(f"type: must be one of {allowed}.", field="type") from None
        if resolved is KeyType.RESTRICTED and scopes is None:
            raise ValidationFailed("scopes: a restricted key needs scopes.", field="scopes")
        return resolved

    # -- reading -------------------------------------------------------------------------

    def _visible(self, caller: Principal, key_id: str) -> ApiKey:
        key = self.repo.get(caller.account_id, key_id)
        # Live keys manage every key of the account; test keys only test-mode keys.
        if key is None or (caller.is_test and key.mode != Mode.TEST):
            raise NotFound(f"No API key {key_id!r}.")
        return key

    def page(self, caller: Principal, *, cursor: str | None, limit: int) -> Page[ApiKey]:
        """Unrevoked keys newest first; `cursor` is the previous page's `next_cursor`."""
        after = None
        if cursor is not None:
            try:
                after = self._visible(caller, cursor)
            except NotFound:
                # The same answer for a made-up id and another tenant's: no existence oracle.
                raise ValidationFailed("cursor: unknown cursor.", field="cursor") from None
        mode = Mode.TEST.value if caller.is_test else None
        return self.repo.page(caller.account_id, mode=mode, after=after, limit=limit)

    def get(self, caller: Principal, key_id: str) -> ApiKey:
        """One key of the caller's account (a revoked one too, with its `revoked_at`)."""
        return self._visible(caller, key_id)

    def update(
        self,
        caller: Principal,
        key_id: str,
        *,
        name: str | None = None,
        scopes: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ApiKey:
        """Rename, narrow the scopes of, or relabel a key; None leaves a field as it is.

        Scopes only ever narrow: a key that would gain anything (directly or through an
        implied scope) is a 400 whoever asks, as no caller could make it valid; a key with
        more power is a new key. Narrowing takes effect on every node at once (the key's
        change is announced), including on the calling key itself.
        """
        key = self._visible(caller, key_id)
        if key.revoked_at is not None:
            raise Conflict("Cannot update a revoked key.")
        # The audit names what changed (old and new scopes and name), never metadata values.
        detail: dict[str, Any] = {}
        if scopes is not None:
            narrowed = sort_scopes(self._narrowed(key, scopes))
            if narrowed != list(key.scopes):
                detail["scopes"] = {"from": list(key.scopes), "to": narrowed}
                key.scopes = narrowed
                record_change(self.session, CHANGE_KIND_KEY, key.id)
        if name is not None and name != key.name:
            detail["name"] = {"from": key.name, "to": name}
            key.name = name
        if metadata is not None and dict(metadata) != key.meta:
            detail["metadata"] = "replaced"
            key.meta = dict(metadata)
        if detail:
            self._audit(key, caller.key_id, "update", detail)
        self.session.flush()
        return key

    @staticmethod
    def _narrowed(key: ApiKey, scopes: Sequence[str]) -> frozenset[Scope]:
        if not scopes:
            raise ValidationFailed("scopes: give at least one scope.", field="scopes")
        try:
            wanted = parse_scopes(scopes)
        except ValueError as exc:
            raise ValidationFailed(f"scopes: {exc}", field="scopes") from None
        gained = expand(wanted) - expand(parse_scopes(key.scopes))
        if gained:
            raise ValidationFailed(
                "scopes: a key's scopes can only be narrowed; this would add "
                + ", ".join(sort_scopes(gained))
                + ". Create a new key for more.",
                field="scopes",
            )
        return wanted

    def list_for_account(self, account_id: str, *, include_revoked: bool) -> Sequence[ApiKey]:
        return self.repo.list(account_id, include_revoked=include_revoked)

    # -- lifecycle -----------------------------------------------------------------------

    def revoke(self, caller: Principal, key_id: str) -> ApiKey:
        return self._revoke(self._visible(caller, key_id), caller.key_id)

    def revoke_by_id(self, key_id: str) -> ApiKey:
        key = self.repo.get_by_id(key_id)
        if key is None:
            raise NotFound(f"No API key {key_id!r}.")
        return self._revoke(key, OPERATOR_KEY_ID)

    def _revoke(self, key: ApiKey, actor_key_id: str) -> ApiKey:
        if key.revoked_at is None:  # revoking twice is a no-op, like DELETE should be
            key.revoked_at = utcnow()
            self._audit(key, actor_key_id, "revoke", {})
            record_change(self.session, CHANGE_KIND_KEY, key.id)
            self.session.flush()
        return key

    def rotate(self, caller: Principal, key_id: str, grace_period: str | None) -> RotatedKey:
        key = self._visible(caller, key_id)
        # The new secret of an admin key is an admin key: owner-only, as making one is.
        if Scope.ADMIN.value in key.scopes and not caller.grants_admin:
            raise InsufficientScope("Only an owner can rotate a key with the admin scope.")
        return self._rotate(
            key,
            grace_period,
            not_after=caller.expires_at,
            actor_key_id=caller.key_id,
        )

    def rotate_by_id(self, key_id: str, grace_period: str | None) -> RotatedKey:
        key = self.repo.get_by_id(key_id)
        if key is None:
            raise NotFound(f"No API key {key_id!r}.")
        return self._rotate(key, grace_period)

    def _rotate(
        self,
        old: ApiKey,
        grace_period: str | None,
        *,
        not_after: datetime | None = None,
        actor_key_id: str = OPERATOR_KEY_ID,
    ) -> RotatedKey:
        """A new secret for `old`. The new key keeps `old`'s expiry (rotating never extends a
        key's life) and never outlives `not_after`, the expiry of the key rotating it."""
        grace = _parse_duration_field(
            grace_period or DEFAULT_GRACE_PERIOD, "grace_period", allow_zero=True
        )
        now = utcnow()
        if old.revoked_at is not None:
            raise Conflict("Cannot rotate a revoked key.")
        if old.expires_at is not None and as_utc(old.expires_at) <= now:
            raise Conflict("Cannot rotate an expired key.")
        ceilings = [as_utc(old.expires_at)] if old.expires_at is not None else []
        if not_after is not None:
            ceilings.append(not_after)
        new = self.issue(
            old.account_id,
            name=old.name,
            key_type=KeyType(old.type),
            mode=Mode(old.mode),
            scopes=parse_scopes(old.scopes),
            lifetime=None,
            rotated_from=old.id,
            not_after=min(ceilings) if ceilings else None,
            metadata=old.meta,
        )
        grace_end = now + grace
        if old.expires_at is None or as_utc(old.expires_at) > grace_end:
            old.expires_at = grace_end
        detail = {"new_key_id": new.key.id, "previous_key_expires_at": isoformat(old.expires_at)}
        self._audit(old, actor_key_id, "rotate", detail)
        record_change(self.session, CHANGE_KIND_KEY, old.id)
        self.session.flush()
        return RotatedKey(new, old)

    # -- authentication ------------------------------------------------------------------

    def resolve(self, key_hash: bytes) -> tuple[bytes, Principal] | None:
        """The stored hash and principal for a presented key's hash, if such a key exists."""
        found = self.repo.get_with_account_by_hash(key_hash)
        if found is None:
            return None
        key, account = found
        return key.key_hash, principal_from_rows(key, account)

    def record_last_used(self, last_used: dict[str, datetime]) -> None:
        self.repo.set_last_used(last_used)
        self.session.flush()
