"""License rules: generate (within the monthly quota), validate, list, lifecycle, stats."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from quantumlock.accounts.plans import EffectiveLimits
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc, isoformat, utcnow
from quantumlock.core.errors import Conflict, NotFound, QuotaExceeded, ValidationFailed
from quantumlock.core.ids import new_id
from quantumlock.core.jsonvalue import json_value_problem
from quantumlock.db.changes import record_change
from quantumlock.db.unit_of_work import after_commit, transaction_scratch
from quantumlock.entropy.service import EntropyService
from quantumlock.entropy.types import Draw
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing import signing
from quantumlock.licensing.cache import change_ref
from quantumlock.licensing.models import (
    AccountSecret,
    License,
    LicenseEvent,
    LicenseValidationDaily,
    SigningKey,
    account_secret_aad,
    signing_key_aad,
)
from quantumlock.licensing.repository import (
    LicenseQuery,
    LicenseRepository,
    LicenseView,
    active_slot,
)
from quantumlock.licensing.writer import KeyTaken, NewLicense, QuotaRefused, store_in

HMAC_PURPOSE = "license-hmac"
CHANGE_KIND_LICENSE = "license"
# A signing key rotated or retired; the ref is `signing_key_ref(account id, mode)`.
CHANGE_KIND_SIGNING_KEY = "signing_key"
MODES = ("live", "test")
KEY_ATTEMPTS = 5
KEY_BYTES = 6  # QLOCK- and three groups of four hex digits: 12 hex characters

# For callers that pass no entropy (the CLI, stats): the OS CSPRNG, still health-tested and
# conditioned, and reported honestly as CRYPTOGRAPHIC.
_OS_ENTROPY = EntropyService(["cryptographic"])


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Code(StrEnum):
    VALID = "VALID"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    CUSTOMER_MISMATCH = "CUSTOMER_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    FEATURES_MISSING = "FEATURES_MISSING"


MESSAGES = {
    Code.VALID: None,
    Code.NOT_FOUND: "License not found.",
    Code.EXPIRED: "License has expired.",
    Code.REVOKED: "License has been revoked.",
    Code.SUSPENDED: "License is suspended.",
    Code.CUSTOMER_MISMATCH: "License does not belong to this end customer.",
    Code.SIGNATURE_INVALID: "License signature is invalid.",
    Code.FEATURES_MISSING: "License does not include the required features.",
}


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int | None  # None = unlimited
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class ValidationCount:
    """Validations of one license on one UTC day with one result, as counted in memory."""

    license_id: str
    account_id: str
    day: str  # "YYYY-MM-DD"
    code: str
    count: int
    last_at: datetime


@dataclass(frozen=True, slots=True)
class Validation:
    code: Code
    license: LicenseView | None
    # FEATURES_MISSING: the required features the license lacks, in the caller's order.
    missing_features: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return self.code is Code.VALID

    @property
    def message(self) -> str | None:
        if self.missing_features:
            named = ", ".join(self.missing_features)
            return f"License does not include the required features: {named}."
        return MESSAGES[self.code]


class SecretCache:
    """Unsealed per-account secrets and signing keys, per process (they never change)."""

    def __init__(self) -> None:
        self._hmac: dict[str, bytes] = {}
        self._keys: dict[str, signing.KeyPair] = {}
        self._lock = threading.Lock()

    def hmac_secret(self, account_id: str) -> bytes | None:
        return self._hmac.get(account_id)

    def put_hmac_secret(self, account_id: str, secret: bytes) -> None:
        with self._lock:
            self._hmac[account_id] = secret

    def keypair(self, kid: str) -> signing.KeyPair | None:
        return self._keys.get(kid)

    def put_keypair(self, kid: str, keys: signing.KeyPair) -> None:
        with self._lock:
            self._keys[kid] = keys


def signing_key_ref(account_id: str, mode: str) -> str:
    return f"{account_id}:{mode}"


def period_of(when: datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def next_period_start(when: datetime) -> datetime:
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def normalise_features(features: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(features))  # drop repeats, keep the caller's order


def missing_features(required: Sequence[str], granted: Sequence[str]) -> tuple[str, ...]:
    """The required features not granted, once each, in the order they were asked for."""
    have = set(granted)
    return tuple(f for f in dict.fromkeys(required) if f not in have)


def normalise_key(license_key: str) -> str:
    return license_key.strip().upper()


def evaluate(
    lic: LicenseView,
    secret: bytes,
    end_customer_id: str,
    required_features: Sequence[str] = (),
    now: datetime | None = None,
) -> Validation:
    """The validation rules, on a loaded row; pure, so cached rows go through them too."""
    if lic.verified_with != secret:
        # Version 0: signed before the status was covered. Refused, not checked the old way,
        # so setting a row's version to 0 is no way around the signed status.
        if lic.version < 1 or not signing.signature_matches(
            secret, fields_of(lic), lic.quantum_signature
        ):
            return Validation(Code.SIGNATURE_INVALID, lic)
        object.__setattr__(lic, "verified_with", secret)
    # Checked before status, so a caller with the wrong customer learns nothing more.
    if lic.end_customer_id != end_customer_id:
        return Validation(Code.CUSTOMER_MISMATCH, lic)
    if lic.status == Status.REVOKED:
        return Validation(Code.REVOKED, lic)
    if lic.status == Status.SUSPENDED:
        return Validation(Code.SUSPENDED, lic)
    if as_utc(lic.valid_until) <= (now or utcnow()):
        return Validation(Code.EXPIRED, lic)
    missing = missing_features(required_features, lic.features)
    if missing:
        return Validation(Code.FEATURES_MISSING, lic, missing)
    return Validation(Code.VALID, lic)


def fields_of(lic: License | LicenseView) -> dict[str, Any]:
    return signing.signed_fields(**_row_fields(lic), status=lic.status, version=lic.version)


def _legacy_fields_of(lic: License | LicenseView) -> dict[str, Any]:
    return signing.legacy_signed_fields(**_row_fields(lic))


def _row_fields(lic: License | LicenseView) -> dict[str, Any]:
    """The row's fields both signatures cover, as the signing functions take them."""
    return {
        "license_key": lic.license_key,
        "account_id": lic.account_id,
        "mode": lic.mode,
        "end_customer_id": lic.end_customer_id,
        "features": list(lic.features),
        "metadata": dict(lic.meta),
        "valid_until": as_utc(lic.valid_until),
        "generated_at": as_utc(lic.generated_at),
    }


def _quota_spent(limits: EffectiveLimits, now: datetime) -> QuotaExceeded:
    reset_at = next_period_start(now)
    return QuotaExceeded(
        f"Monthly limit reached ({limits.licenses_per_month} licenses).",
        retry_after=max(1, int((reset_at - now).total_seconds())),
        reset_at=reset_at,
    )


def _event(lic: License, caller: Actor, action: str, detail: dict[str, Any]) -> LicenseEvent:
    return LicenseEvent(
        license_id=lic.id,
        account_id=lic.account_id,
        key_id=caller.key_id,
        action=action,
        detail=detail,
        at=utcnow(),
    )


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """An account's HMAC secret and the active signing key of one mode, unsealed."""

    secret: bytes
    key: SigningKey
    keys: signing.KeyPair

    def draft(
        self,
        caller: Actor,
        limits: EffectiveLimits,
        entropy: Callable[[int], Draw],
        *,
        end_customer_id: str,
        features: Sequence[str],
        valid_days: int,
        metadata: dict[str, Any],
        metadata_checked: bool = False,
    ) -> Draft:
        """`metadata_checked`: the caller validated `metadata` already (the API's body
        schema does); every other caller (the CLI) has it checked here."""
        problem = None if metadata_checked else json_value_problem(metadata)
        if problem:
            raise ValidationFailed(f"metadata {problem}.", field="metadata")
        return Draft(
            caller,
            limits,
            self.secret,
            self.key,
            self.keys,
            entropy,
            end_customer_id,
            normalise_features(features),
            valid_days,
            metadata,
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """A license to be: what `LicenseService.draft` read and checked. `issue` draws the
    key, signs and stores, and needs no database session of its own."""

    caller: Actor
    limits: EffectiveLimits
    secret: bytes
    key: SigningKey
    keys: signing.KeyPair
    entropy: Callable[[int], Draw]
    end_customer_id: str
    features: list[str]
    valid_days: int
    metadata: dict[str, Any]

    def issue(
        self,
        store: Callable[[NewLicense], int | None],
        also: Callable[[Session, License, Quota | None], None] | None = None,
    ) -> tuple[License, Quota | None]:
        """Sign a new license and store it with `store` (`writer.store_in` a session, or a
        `LicenseWriter`'s group commit); the license and the quota it left (live mode).
        `also` writes what must commit with the license, in its transaction (`bind`)."""
        for _attempt in range(KEY_ATTEMPTS):
            new = self.bind(self.build(), also)
            try:
                used = store(new)
            except KeyTaken:  # license key collision: new key
                continue
            except QuotaRefused:
                raise self.refused(new) from None
            return self.outcome(new, used)
        raise Conflict("Could not allocate a unique license key; try again.")

    def build(self) -> NewLicense:
        """Draw a key and sign (HMAC, Ed25519 + ML-DSA-65: ~1.2 ms, mostly without the GIL),
        before any row is locked: a simulator run or a remote call must not hold a lock."""
        now = utcnow().replace(microsecond=0)
        lic = self._build(self.entropy(KEY_BYTES), now)
        detail = {"valid_until": isoformat(lic.valid_until)}
        return NewLicense(
            lic,
            _event(lic, self.caller, "generate", detail),
            # Test-mode licenses are free and uncounted.
            period_of(now) if self.caller.mode == "live" else None,
            self.limits.licenses_per_month,
        )

    def bind(
        self, new: NewLicense, also: Callable[[Session, License, Quota | None], None] | None
    ) -> NewLicense:
        """`new`, with `also` to be written in the transaction that stores it, given the
        license and the quota it left (a request's idempotent answer: quantumlock.idempotency)."""
        if also is not None:
            new.also = lambda session, used: also(session, *self.outcome(new, used))
        return new

    def outcome(self, new: NewLicense, used: int | None) -> tuple[License, Quota | None]:
        """The stored license and the quota it left (None: not counted)."""
        if used is None:
            return new.license, None
        now = as_utc(new.license.generated_at)
        return new.license, Quota(new.limit, used, next_period_start(now))

    def refused(self, new: NewLicense) -> QuotaExceeded:
        """The answer when the quota had no room for `new`."""
        return _quota_spent(self.limits, as_utc(new.license.generated_at))

    def _build(self, key_draw: Draw, now: datetime) -> License:
        raw = key_draw.data.hex().upper()
        license_key = f"QLOCK-{raw[0:4]}-{raw[4:8]}-{raw[8:12]}"
        valid_until = now + timedelta(days=self.valid_days)
        lic = License(
            id=new_id("lic"),
            account_id=self.caller.account_id,
            mode=self.caller.mode,
            license_key=license_key,
            end_customer_id=self.end_customer_id,
            features=self.features,
            meta=self.metadata,
            status=Status.ACTIVE.value,
            version=1,
            valid_until=valid_until,
            generated_at=now,
            created_at=utcnow(),  # full precision: listing order within a second
            # What actually produced the key's bits (ARCHITECTURE §6).
            quantum_verified=key_draw.quantum_verified,
            qcos_fidelity=key_draw.fidelity,
            security_level=key_draw.security_level.value,
            signing_kid=self.key.kid,
        )
        lic.quantum_signature = signing.quantum_signature(self.secret, fields_of(lic))
        lic.license_file = LicenseService._license_file(lic, self.key, self.keys, now)
        return lic


class LicenseService:
    def __init__(
        self,
        session: Session,
        sealer: Sealer,
        cache: SecretCache,
        entropy: Callable[[int], Draw] | None = None,
    ) -> None:
        """`entropy`: where key bytes, account secrets and signing seeds come from (the
        server passes `runtime.entropy.draw`); a license reports the source of its key."""
        self.session = session
        self.repo = LicenseRepository(session)
        self.sealer = sealer
        self.cache = cache
        self.entropy = entropy or _OS_ENTROPY.draw

    # -- secrets -------------------------------------------------------------------------

    def _hmac_secret(self, account_id: str) -> bytes:
        cached = self.cache.hmac_secret(account_id)
        if cached is not None:
            return cached
        # Made earlier in this unit of work: not in the cache until it commits.
        made = transaction_scratch(self.session).get((HMAC_PURPOSE, account_id))
        if made is not None:
            return cast(bytes, made)
        aad = account_secret_aad(account_id, HMAC_PURPOSE)
        row = self.repo.secret(account_id, HMAC_PURPOSE)
        if row is None:
            secret = self.entropy(64).data
            row = AccountSecret(
                account_id=account_id,
                purpose=HMAC_PURPOSE,
                sealed=self.sealer.seal(secret, aad),
                created_at=utcnow(),
            )
            if self._insert_once(partial(self.repo.add_secret, row)):
                # Cached only once it lands: a secret that rolled back must never sign.
                transaction_scratch(self.session)[(HMAC_PURPOSE, account_id)] = secret
                after_commit(self.session, lambda: self.cache.put_hmac_secret(account_id, secret))
                return secret
            row = self.repo.secret(account_id, HMAC_PURPOSE)  # another request's
            assert row is not None  # noqa: S101
        secret = self.sealer.open(row.sealed, aad)
        self.cache.put_hmac_secret(account_id, secret)
        return secret

    def _insert_once(self, add: Callable[[], None]) -> bool:
        """Get-or-create inside the caller's unit of work: `add()` a row in a SAVEPOINT;
        False when a concurrent transaction inserted its twin first (the unique index), and
        only the savepoint rolls back. (On SQLite a savepoint that opens the transaction
        commits when released: pysqlite begins transactions only before DML. For these
        rows that is harmless, they are made once and needed anyway.)"""
        try:
            with self.session.begin_nested():
                add()
        except IntegrityError:
            return False
        return True

    def _keypair(self, key: SigningKey) -> signing.KeyPair:
        cached = self.cache.keypair(key.kid)
        if cached is None:
            cached = signing.KeyPair.from_private_bytes(
                self.sealer.open(key.sealed_private, signing_key_aad(key.kid))
            )
            self.cache.put_keypair(key.kid, cached)
        return cached

    def _new_signing_key(self, account_id: str, mode: str, *, add: bool = True) -> SigningKey:
        seed = self.entropy(64).data  # Ed25519 private key ‖ ML-DSA-65 seed
        keys = signing.KeyPair(
            ed25519.Ed25519PrivateKey.from_private_bytes(seed[:32]),
            mldsa.MLDSA65PrivateKey.from_seed_bytes(seed[32:]),
        )
        kid = new_id("sk", 16)
        row = SigningKey(
            kid=kid,
            account_id=account_id,
            alg=signing.ALG,
            mode=mode,
            status="active",
            active_for=active_slot(account_id, mode),
            ed25519_public=keys.public_ed25519(),
            ml_dsa_65_public=keys.public_ml_dsa_65(),
            sealed_private=self.sealer.seal(keys.private_bytes(), signing_key_aad(kid)),
            created_at=utcnow(),
        )
        if add:
            self.repo.add_signing_key(row)
        # By kid, which is new: an entry whose row rolled back is never asked for.
        self.cache.put_keypair(kid, keys)
        return row

    def _active_signing_key(self, account_id: str, mode: str) -> SigningKey:
        """The key that signs the files of this mode. Test-mode files get test-mode keys,
        published apart, so a verifier holding the live keys never accepts one."""
        _check_mode(mode)
        key = self.repo.active_signing_key(account_id, mode)
        if key is not None:
            return key
        key = self._new_signing_key(account_id, mode, add=False)
        if not self._insert_once(partial(self.repo.add_signing_key, key)):
            # A concurrent request made the first key: use that one.
            key = self.repo.active_signing_key(account_id, mode)
            assert key is not None  # noqa: S101
        return key

    def rotate_signing_key(self, account_id: str, mode: str = "live") -> SigningKey:
        """A new active key; the old ones keep verifying files they signed until retired."""
        _check_mode(mode)
        for old in self.repo.signing_keys(account_id, mode):
            if old.status == "active":
                old.status, old.active_for = "verify_only", None
        self.session.flush()  # free the active slot before the new key takes it
        new = self._new_signing_key(account_id, mode)
        self.session.flush()
        record_change(self.session, CHANGE_KIND_SIGNING_KEY, signing_key_ref(account_id, mode))
        return new

    def retire_signing_key(self, account_id: str, kid: str, mode: str = "live") -> SigningKey:
        key = self.repo.signing_key(kid)
        if key is None or key.account_id != account_id or key.mode != mode:
            raise NotFound(f"No signing key {kid!r}.")
        if key.status == "active":
            raise Conflict("Rotate first: the active signing key cannot be retired.")
        key.status, key.retired_at = "retired", utcnow()
        self.session.flush()
        record_change(self.session, CHANGE_KIND_SIGNING_KEY, signing_key_ref(account_id, mode))
        return key

    def signing_keys(self, account_id: str, mode: str = "live") -> Sequence[SigningKey]:
        """The published document of one mode: a live caller never sees test keys."""
        _check_mode(mode)
        keys = self.repo.signing_keys(account_id, mode)
        if not keys:
            self._active_signing_key(account_id, mode)
            keys = self.repo.signing_keys(account_id, mode)
        return keys

    # -- quota ---------------------------------------------------------------------------

    def quota(self, account_id: str, limits: EffectiveLimits, now: datetime | None = None) -> Quota:
        now = now or utcnow()
        return Quota(
            limits.licenses_per_month,
            self.repo.usage(account_id, period_of(now)),
            next_period_start(now),
        )

    # -- generate ------------------------------------------------------------------------

    def generate(
        self,
        caller: Actor,
        limits: EffectiveLimits,
        *,
        end_customer_id: str,
        features: Sequence[str],
        valid_days: int,
        metadata: dict[str, Any],
    ) -> tuple[License, Quota | None]:
        """A new license, written in this session's unit of work (flushed; the caller
        commits). The API's hot path stores through a `LicenseWriter` instead: `draft`,
        then `Draft.issue(writer.store)` with no session open."""
        draft = self.draft(
            caller,
            limits,
            end_customer_id=end_customer_id,
            features=features,
            valid_days=valid_days,
            metadata=metadata,
        )
        return draft.issue(partial(store_in, self.session))

    def draft(
        self,
        caller: Actor,
        limits: EffectiveLimits,
        *,
        end_customer_id: str,
        features: Sequence[str],
        valid_days: int,
        metadata: dict[str, Any],
    ) -> Draft:
        """Everything a new license needs from the database, read and checked; signing and
        writing happen in `Draft.issue`, outside this session's transaction."""
        material = self.signing_material(caller.account_id, caller.mode)
        if caller.mode == "live":
            # An account at its limit is refused before anything is signed or written; the
            # conditional UPDATE still decides for requests that race past this read.
            self._refuse_if_quota_spent(caller.account_id, limits, utcnow())
        return material.draft(
            caller,
            limits,
            self.entropy,
            end_customer_id=end_customer_id,
            features=features,
            valid_days=valid_days,
            metadata=metadata,
        )

    def signing_material(self, account_id: str, mode: str) -> SigningMaterial:
        """What signs this account's licenses of `mode`: its HMAC secret and active signing
        key, unsealed (made on first use, in this unit of work)."""
        key = self._active_signing_key(account_id, mode)
        return SigningMaterial(self._hmac_secret(account_id), key, self._keypair(key))

    def _refuse_if_quota_spent(
        self, account_id: str, limits: EffectiveLimits, now: datetime
    ) -> None:
        limit = limits.licenses_per_month
        if limit is not None and self.repo.usage(account_id, period_of(now)) >= limit:
            raise _quota_spent(limits, now)

    @staticmethod
    def _license_file(
        lic: License, key: SigningKey, keys: signing.KeyPair, issued_at: datetime
    ) -> str:
        payload = {
            "v": 1,
            "license_key": lic.license_key,
            "account_id": lic.account_id,
            "mode": lic.mode,
            "end_customer_id": lic.end_customer_id,
            "features": list(lic.features),
            "valid_until": isoformat(as_utc(lic.valid_until)),
            "issued_at": isoformat(issued_at),
            "kid": key.kid,
        }
        return signing.license_file(payload, keys)

    # -- validate ------------------------------------------------------------------------

    def validate(
        self,
        account_id: str,
        mode: str,
        license_key: str,
        end_customer_id: str,
        required_features: Sequence[str] = (),
        now: datetime | None = None,
    ) -> Validation:
        """Writes nothing and counts nothing: validation is the shipped app's hot path."""
        lic, secret = self.load_for_validation(account_id, mode, license_key)
        if lic is None:
            return Validation(Code.NOT_FOUND, None)
        return evaluate(lic, secret, end_customer_id, required_features, now)

    def load_for_validation(
        self, account_id: str, mode: str, license_key: str
    ) -> tuple[LicenseView | None, bytes]:
        """The row validation judges and the account's secret (b"" when there is no row)."""
        lic = self.repo.view(account_id, mode, normalise_key(license_key))
        secret = self._hmac_secret(account_id) if lic is not None else b""
        return lic, secret

    def load_many_for_validation(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[LicenseView, bytes]]:
        """`load_for_validation` for many (account id, mode, normalised key) at once, one
        query per account and mode: the rows found, by key (a key left out has no row)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for account_id, mode, license_key in keys:
            groups.setdefault((account_id, mode), []).append(license_key)
        found: dict[tuple[str, str, str], tuple[LicenseView, bytes]] = {}
        for (account_id, mode), license_keys in groups.items():
            views = self.repo.views(account_id, mode, license_keys)
            if views:
                secret = self._hmac_secret(account_id)
                for view in views:
                    found[(account_id, mode, view.license_key)] = (view, secret)
        return found

    # -- reading -------------------------------------------------------------------------

    def get(self, caller: Actor, license_key: str) -> License:
        lic = self.repo.get(caller.account_id, caller.mode, normalise_key(license_key))
        if lic is None:  # also another account's or the other mode's license
            raise NotFound(f"No license {license_key!r}.")
        return lic

    def list(
        self,
        caller: Actor,
        *,
        skip: int,
        limit: int,
        end_customer_id: str | None = None,
        status: str | None = None,
    ) -> tuple[int, Sequence[License]]:
        return self.repo.list(
            caller.account_id,
            caller.mode,
            skip=skip,
            limit=limit,
            end_customer_id=end_customer_id,
            status=status,
            now=utcnow(),
        )

    def search(
        self, caller: Actor, query: LicenseQuery, *, skip: int, limit: int
    ) -> tuple[int, Sequence[License]]:
        """The caller's licenses (its account and mode) that match `query`, newest first,
        one page, and how many match."""
        return self.repo.search(
            caller.account_id, caller.mode, query, skip=skip, limit=limit, now=utcnow()
        )

    def validation_history(
        self, caller: Actor, license_key: str, days: int = 30
    ) -> Sequence[LicenseValidationDaily]:
        """Validations of the caller's license per UTC day and result code, the last `days`
        days (today included), newest first. Counts reach the table when the validation
        counters are flushed (`record_validations`)."""
        lic = self.get(caller, license_key)
        since = (utcnow() - timedelta(days=days - 1)).strftime("%Y-%m-%d")
        return self.repo.validation_days(lic.id, since)

    def record_validations(self, counts: Sequence[ValidationCount]) -> None:
        """Add counted validations to the history (the background flush)."""
        # A license deleted since it was counted (with its account, by the operator): its
        # row would fail the foreign key, and a batch put back after every failure would
        # stop every account's history.
        live = self.repo.existing_ids(sorted({c.license_id for c in counts}))
        self.repo.add_validation_counts(
            [
                {
                    "license_id": c.license_id,
                    "day": c.day,
                    "code": c.code,
                    "account_id": c.account_id,
                    "count": c.count,
                    "last_at": c.last_at,
                }
                for c in counts
                if c.license_id in live
            ]
        )
        self.session.flush()

    def events(self, caller: Actor, license_key: str) -> Sequence[LicenseEvent]:
        """Every lifecycle event of the caller's license, oldest first."""
        return self.repo.events(self.get(caller, license_key).id)

    def event_page(
        self, caller: Actor, license_key: str, *, skip: int, limit: int
    ) -> tuple[int, Sequence[LicenseEvent]]:
        """One page of the license's lifecycle events, newest first, and how many there
        are; NotFound for another account's or the other mode's license."""
        return self.repo.event_page(self.get(caller, license_key).id, skip=skip, limit=limit)

    def stats(self, account_id: str, limits: EffectiveLimits) -> dict[str, Any]:
        now = utcnow()
        quota = self.quota(account_id, limits, now)
        total, active = self.repo.counts(account_id, now)
        return {
            "licenses_generated_month": quota.used,
            "licenses_remaining_month": quota.remaining,
            "max_licenses_month": quota.limit,
            "total_licenses_all_time": total,
            "active_licenses": active,
        }

    # -- lifecycle -----------------------------------------------------------------------

    def _announce(self, lic: License) -> None:
        """Tell every process to forget cached validation state for this license."""
        record_change(
            self.session, CHANGE_KIND_LICENSE, change_ref(lic.account_id, lic.license_key)
        )

    def _audit(self, lic: License, caller: Actor, action: str, detail: dict[str, Any]) -> None:
        self.repo.add_event(_event(lic, caller, action, detail))

    def _resign(self, lic: License) -> None:
        """A new row version, signed with everything that decides validity."""
        lic.version += 1
        lic.quantum_signature = signing.quantum_signature(
            self._hmac_secret(lic.account_id), fields_of(lic)
        )

    def _change(self, lic: License, caller: Actor, action: str, detail: dict[str, Any]) -> None:
        """Every change that affects validation: re-signed, audited and announced (every
        process drops its cached copy) in the caller's unit of work, so none of it lands
        unless all of it does."""
        try:
            self._resign(lic)
            self._audit(lic, caller, action, detail)
            self._announce(lic)
            self.session.flush()
        except StaleDataError:
            raise Conflict("The license changed meanwhile; try again.") from None

    def _transition(
        self, caller: Actor, license_key: str, action: str, to: Status, allowed_from: set[str]
    ) -> License:
        lic = self.get(caller, license_key)
        if lic.status not in allowed_from:
            raise Conflict(f"Cannot {action} a {lic.status} license.")
        previous = lic.status
        lic.status = to.value
        self._change(lic, caller, action, {"from": previous, "to": to.value})
        return lic

    def revoke(self, caller: Actor, license_key: str) -> License:
        return self._transition(
            caller, license_key, "revoke", Status.REVOKED, {Status.ACTIVE, Status.SUSPENDED}
        )

    def suspend(self, caller: Actor, license_key: str) -> License:
        return self._transition(caller, license_key, "suspend", Status.SUSPENDED, {Status.ACTIVE})

    def reinstate(self, caller: Actor, license_key: str) -> License:
        return self._transition(caller, license_key, "reinstate", Status.ACTIVE, {Status.SUSPENDED})

    def renew(self, caller: Actor, license_key: str, valid_days: int) -> License:
        lic = self.get(caller, license_key)
        if lic.status == Status.REVOKED:
            raise Conflict("Cannot renew a revoked license.")
        # Read before the row changes (the first key may be made here, in a savepoint).
        key = self._active_signing_key(lic.account_id, lic.mode)
        keys = self._keypair(key)
        now = utcnow().replace(microsecond=0)
        previous = as_utc(lic.valid_until)
        lic.valid_until = max(now, previous) + timedelta(days=valid_days)
        # A new offline file with the new expiry, signed with the key of the license's mode.
        lic.signing_kid = key.kid
        lic.license_file = self._license_file(lic, key, keys, now)
        detail = {"from": isoformat(previous), "to": isoformat(as_utc(lic.valid_until))}
        self._change(lic, caller, "renew", detail)
        return lic

    # -- legacy rows ---------------------------------------------------------------------

    def resign_legacy(self, batch: int = 500) -> tuple[int, int]:
        """Re-sign rows signed before the status was (version 0 -> 1): their old signature
        is checked first, so a row already tampered with stays refused. Idempotent; run by
        `quantumlock init`. Returns (re-signed, left refused)."""
        resigned = refused = 0
        after = ""
        while rows := self.repo.legacy(after, batch):
            for lic in rows:
                secret = self._hmac_secret(lic.account_id)
                if signing.signature_matches(secret, _legacy_fields_of(lic), lic.quantum_signature):
                    self._resign(lic)
                    self._announce(lic)
                    resigned += 1
                else:
                    refused += 1
            after = rows[-1].id
            self.session.flush()
        return resigned, refused


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
