"""The provider's signing keys: ES256 (the default) and RS256, private halves sealed under
the master key, published with their `kid` at /oauth/jwks.

A rotation makes a new active key and leaves the previous one `verify_only`: it still
verifies (and is still published) until `retire` removes it, after every token it signed has
expired. Changes are announced as CHANGE_KIND_SIGNING_KEY so every node reloads its keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.ids import new_id
from quantumlock.db.changes import record_change
from quantumlock.identity.models import OAuthSigningKey, oauth_signing_key_aad
from quantumlock.keyring.sealing import Sealer

ALGORITHMS = ("ES256", "RS256")
DEFAULT_ALG = "ES256"
CHANGE_KIND_SIGNING_KEY = "oauth_signing_key"

PrivateKey = ECKey | RSAKey


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """What a node holds: the active private key per algorithm, and every public key that
    still verifies."""

    active: dict[str, PrivateKey]  # alg -> key (its kid in the key's parameters)
    public: KeySet

    def jwks(self) -> dict[str, Any]:
        return dict(self.public.as_dict(private=False))


def _generate(alg: str, kid: str) -> PrivateKey:
    params: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params, private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def _import(row: OAuthSigningKey, pem: bytes) -> PrivateKey:
    params: KeyParameters = {"kid": row.kid, "alg": row.alg, "use": "sig"}
    if row.alg == "ES256":
        return ECKey.import_key(pem, params)
    return RSAKey.import_key(pem, params)


class SigningKeyService:
    def __init__(self, session: Session, sealer: Sealer) -> None:
        self.session = session
        self.sealer = sealer

    def _rows(self, *statuses: str) -> list[OAuthSigningKey]:
        query = select(OAuthSigningKey).where(OAuthSigningKey.status.in_(statuses))
        return list(self.session.scalars(query.order_by(OAuthSigningKey.created_at)))

    def create(self, alg: str, *, replace: bool = True) -> OAuthSigningKey:
        """A new active key for `alg`; with `replace`, the active one before it becomes
        verify-only. Without it (the first key), another node's key made meanwhile makes the
        insert fail (`active_for` is unique) rather than be demoted."""
        now = utcnow()
        if replace:
            for row in self._rows("active"):
                if row.alg == alg:
                    row.status = "verify_only"
                    row.active_for = None
            self.session.flush()  # frees the algorithm's active slot for the new key
        kid = new_id("kid", 16)
        key = _generate(alg, kid)
        row = OAuthSigningKey(
            kid=kid,
            alg=alg,
            status="active",
            active_for=alg,
            public_jwk=key.as_dict(private=False),
            sealed_private=self.sealer.seal(key.as_pem(private=True), oauth_signing_key_aad(kid)),
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        record_change(self.session, CHANGE_KIND_SIGNING_KEY, kid)
        return row

    def ensure(self) -> None:
        """One active key per algorithm (the first start of a node, or a new database)."""
        have = {row.alg for row in self._rows("active")}
        for alg in ALGORITHMS:
            if alg not in have:
                self.create(alg, replace=False)

    def rotate(self, alg: str = DEFAULT_ALG) -> OAuthSigningKey:
        return self.create(alg)

    def retire(self, before: datetime) -> list[str]:
        """Retire verify-only keys made before `before` (no unexpired token is theirs)."""
        retired = []
        for row in self._rows("verify_only"):
            if as_utc(row.created_at) <= as_utc(before):  # SQLite gives naive datetimes
                row.status = "retired"
                row.retired_at = utcnow()
                retired.append(row.kid)
                record_change(self.session, CHANGE_KIND_SIGNING_KEY, row.kid)
        self.session.flush()
        return retired

    def list(self) -> list[OAuthSigningKey]:
        return self._rows("active", "verify_only", "retired")

    def material(self) -> SigningMaterial:
        active: dict[str, PrivateKey] = {}
        public: list[ECKey | RSAKey | Any] = []
        for row in self._rows("active", "verify_only"):
            public.append(
                ECKey.import_key(row.public_jwk)
                if row.alg == "ES256"
                else RSAKey.import_key(row.public_jwk)
            )
            if row.status == "active":
                pem = self.sealer.open(row.sealed_private, oauth_signing_key_aad(row.kid))
                active[row.alg] = _import(row, pem)
        return SigningMaterial(active, KeySet(public))
