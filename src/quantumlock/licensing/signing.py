"""License signatures.

* `quantum_signature`: HMAC-SHA3-512 over the canonical JSON of the license's fields, under
  a per-account secret sealed at rest. 128 hex characters. Re-checked on every online
  validation, so a row changed behind the service's back is reported SIGNATURE_INVALID.
  The fields include the status and a row version bumped on every change, so every field
  that decides validity is covered. Rows signed before that (version 0) are re-signed by
  `quantumlock init` (`LicenseService.resign_legacy`) and refused until then.
* License files, for offline validation: `qlf1.<payload>.<ed25519 sig>.<ml-dsa-65 sig>`,
  each part base64url without padding. Both signatures cover the ASCII bytes
  `qlf1.<payload>`; a verifier accepts a file only if both verify, so it stays sound if
  either algorithm falls (classical today, post-quantum tomorrow).
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

from quantumlock.core.canonical import canonical_json
from quantumlock.core.clock import isoformat

FILE_PREFIX = "qlf1"
ALG = "Ed25519+ML-DSA-65"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_fields(
    *,
    license_key: str,
    account_id: str,
    mode: str,
    end_customer_id: str,
    features: list[str],
    metadata: dict[str, Any],
    valid_until: datetime,
    generated_at: datetime,
    status: str,
    version: int,
) -> dict[str, Any]:
    return {
        **legacy_signed_fields(
            license_key=license_key,
            account_id=account_id,
            mode=mode,
            end_customer_id=end_customer_id,
            features=features,
            metadata=metadata,
            valid_until=valid_until,
            generated_at=generated_at,
        ),
        "status": status,
        "version": version,
    }


def legacy_signed_fields(
    *,
    license_key: str,
    account_id: str,
    mode: str,
    end_customer_id: str,
    features: list[str],
    metadata: dict[str, Any],
    valid_until: datetime,
    generated_at: datetime,
) -> dict[str, Any]:
    """What version-0 rows were signed over (no status): only to re-sign them once."""
    return {
        "license_key": license_key,
        "account_id": account_id,
        "mode": mode,
        "end_customer_id": end_customer_id,
        "features": features,
        "metadata": metadata,
        "valid_until": isoformat(valid_until),
        "generated_at": isoformat(generated_at),
    }


def quantum_signature(secret: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(secret, canonical_json(fields), "sha3_512").hexdigest()


def signature_matches(secret: bytes, fields: dict[str, Any], stored: str) -> bool:
    return hmac.compare_digest(quantum_signature(secret, fields), stored)


@dataclass(frozen=True)
class KeyPair:
    ed25519: ed25519.Ed25519PrivateKey
    ml_dsa_65: mldsa.MLDSA65PrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(ed25519.Ed25519PrivateKey.generate(), mldsa.MLDSA65PrivateKey.generate())

    def private_bytes(self) -> bytes:
        """Both private keys as a small JSON document, for sealing."""
        return json.dumps(
            {
                "ed25519": b64url(self.ed25519.private_bytes_raw()),
                "ml_dsa_65": b64url(self.ml_dsa_65.private_bytes_raw()),
            }
        ).encode()

    @classmethod
    def from_private_bytes(cls, data: bytes) -> KeyPair:
        parts = json.loads(data)
        return cls(
            ed25519.Ed25519PrivateKey.from_private_bytes(_unb64(parts["ed25519"])),
            mldsa.MLDSA65PrivateKey.from_seed_bytes(_unb64(parts["ml_dsa_65"])),
        )

    def public_ed25519(self) -> bytes:
        return self.ed25519.public_key().public_bytes_raw()

    def public_ml_dsa_65(self) -> bytes:
        return self.ml_dsa_65.public_key().public_bytes_raw()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def license_file(payload: dict[str, Any], keys: KeyPair) -> str:
    body = f"{FILE_PREFIX}.{b64url(canonical_json(payload))}"
    message = body.encode()
    return ".".join(
        [body, b64url(keys.ed25519.sign(message)), b64url(keys.ml_dsa_65.sign(message))]
    )
