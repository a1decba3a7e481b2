"""Bulk-load licenses for the benchmark: `python -m bench.seed --count N`.

Reads the same environment as the `quantumlock` CLI (QL_DATA_DIR, QL_DATABASE_URL,
QL_MASTER_KEY) and inserts licenses for one account, in live mode by default:

    QL_DATA_DIR=/tmp/ql/data python -m bench.seed --count 1000000
    python -m bench.seed --account cust_... --total 1000     # top up to 1,000 licenses
    python -m bench.seed --count 5000 --samples-out keys.json

`--account` may be left out when the database holds exactly one account. `--count` adds N
licenses; `--total` adds whatever is missing for the account to hold N in that mode.

Rows go in with SQLAlchemy Core (`insert(License.__table__)`, executemany), one
transaction per batch. Each row is a real license as far as online validation goes: a
unique key, realistic customer, features and metadata, and a `quantum_signature` computed
with the account's own HMAC secret over `signed_fields`, exactly as `LicenseService`
signs, so `POST /api/v1/licenses/validate` takes its full path (lookup, signature check,
status and expiry) on them. Most are active; a few are expired, suspended or revoked, as
in a real table; the sample keys handed back are always active and unexpired.

The one shortcut: every seeded row carries a copy of one real `license_file`, from a
license generated through `LicenseService` (signing a file with Ed25519 and ML-DSA-65
costs about a millisecond, i.e. a quarter of an hour per million rows). Online validation
never reads the file, and the copy keeps each row's size realistic (about 5 KB). Offline
verification of a seeded row's file would name the template's key, not the row's.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.orm import Session

from quantumlock.accounts.models import Account
from quantumlock.accounts.plans import limits_of_account
from quantumlock.bootstrap import make_sealer
from quantumlock.core.actor import Actor
from quantumlock.core.clock import as_utc, utcnow
from quantumlock.core.ids import BASE62
from quantumlock.db.engine import make_engine, make_session_factory
from quantumlock.keyring.sealing import Sealer
from quantumlock.licensing import signing
from quantumlock.licensing.models import License
from quantumlock.licensing.service import LicenseService, SecretCache, Status
from quantumlock.settings import Settings

LICENSES = cast(Table, License.__table__)
BATCH = 10_000
SAMPLES = 100
ACTOR = "bench-seed"  # the key id in the audit entry of the template license
TEMPLATE_CUSTOMER = "bench-template"

_COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
    "cyberdyne", "soylent", "wonka", "massive", "aperture", "oscorp", "vandelay", "dunder",
)  # fmt: skip
_SUFFIXES = ("corp", "labs", "gmbh", "inc", "ltd", "systems", "analytics", "health")
_FEATURES = (
    "core", "reporting", "export", "sso", "audit-log", "api-access", "multi-site",
    "offline-mode", "premium-support", "analytics", "backup", "white-label",
)  # fmt: skip
_PLANS = ("starter", "professional", "enterprise")
_REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast")


@dataclass(frozen=True)
class Sample:
    license_key: str
    end_customer_id: str


@dataclass(frozen=True)
class SeedResult:
    account_id: str
    mode: str
    inserted: int
    total: int  # the account's licenses in this mode afterwards
    seconds: float
    samples: list[Sample]

    @property
    def rows_per_s(self) -> float:
        return self.inserted / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_per_s"] = round(self.rows_per_s, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class _Template:
    """What every seeded row shares with a real, service-generated license."""

    account_id: str
    mode: str
    secret: bytes
    signing_kid: str
    license_file: str
    security_level: str


def _pick_account(session: Session, account_id: str | None) -> str:
    if account_id is not None:
        if session.get(Account, account_id) is None:
            raise SystemExit(f"no account {account_id!r} in this database")
        return account_id
    ids = session.scalars(select(Account.id).limit(2)).all()
    if len(ids) != 1:
        raise SystemExit(f"pass --account: the database holds {len(ids) or 'no'} accounts")
    return ids[0]


def _template(session: Session, sealer: Sealer, account_id: str, mode: str) -> _Template:
    """A real license of the account (generated through the service if it has none)."""
    svc = LicenseService(session, sealer, SecretCache())
    real = session.scalar(
        select(License).where(License.account_id == account_id, License.mode == mode).limit(1)
    )
    if real is None:
        account = session.get(Account, account_id)
        assert account is not None
        # Also creates the account's HMAC secret and signing key, as the first API call would.
        real, _ = svc.generate(
            Actor(account_id, mode, ACTOR),
            limits_of_account(account),
            end_customer_id=TEMPLATE_CUSTOMER,
            features=["core"],
            valid_days=365,
            metadata={"source": "bench.seed"},
        )
    secret = svc._hmac_secret(account_id)
    template = _Template(
        account_id, mode, secret, real.signing_kid, real.license_file, real.security_level
    )
    session.commit()
    return template


class _Rows:
    """Realistic rows, signed as LicenseService signs them."""

    def __init__(self, template: _Template, taken: set[str], now: datetime) -> None:
        self.t = template
        self.taken = taken
        self.now = now.replace(microsecond=0)
        # Not secrets: bench data. random is ~10x faster than `secrets` per call.
        self.rng = random.Random(secrets.randbits(64))

    def _key(self) -> str:
        while True:
            raw = f"{self.rng.getrandbits(48):012X}"
            key = f"QLOCK-{raw[0:4]}-{raw[4:8]}-{raw[8:12]}"
            if key not in self.taken:
                self.taken.add(key)
                return key

    def row(self, *, sample: bool) -> dict[str, Any]:
        rng = self.rng
        customer = (
            f"{rng.choice(_COMPANIES)}-{rng.choice(_SUFFIXES)}-{rng.randrange(1_000_000):06d}"
        )
        features = rng.sample(_FEATURES, rng.randint(1, 5))
        metadata: dict[str, Any] = {
            "plan": rng.choice(_PLANS),
            "seats": rng.choice((1, 5, 10, 25, 50, 100, 250)),
            "region": rng.choice(_REGIONS),
            "order_id": f"SO-{rng.randrange(10**8):08d}",
        }
        roll = 0.0 if sample else rng.random()
        status = Status.ACTIVE.value
        if roll > 0.97:  # expired: issued long enough ago to have run out
            generated_at = self.now - timedelta(days=rng.randint(400, 900))
            valid_until = generated_at + timedelta(days=365)
        else:
            generated_at = self.now - timedelta(seconds=rng.randrange(300 * 86_400))
            valid_until = generated_at + timedelta(days=rng.choice((365, 730, 1095)))
            if roll > 0.95:
                status = Status.REVOKED.value
            elif roll > 0.94:
                status = Status.SUSPENDED.value
        key = self._key()
        fields = signing.signed_fields(
            license_key=key,
            account_id=self.t.account_id,
            mode=self.t.mode,
            end_customer_id=customer,
            features=list(features),
            metadata=dict(metadata),
            valid_until=as_utc(valid_until),
            generated_at=as_utc(generated_at),
            status=status,
            version=1,
        )
        return {
            "id": "lic_" + "".join(rng.choices(BASE62, k=20)),
            "account_id": self.t.account_id,
            "mode": self.t.mode,
            "license_key": key,
            "end_customer_id": customer,
            "features": features,
            "metadata": metadata,
            "status": status,
            "version": 1,
            "valid_until": valid_until,
            "generated_at": generated_at,
            "created_at": generated_at + timedelta(microseconds=rng.randrange(1_000_000)),
            "quantum_signature": signing.quantum_signature(self.t.secret, fields),
            "quantum_verified": False,
            "qcos_fidelity": None,
            "security_level": self.t.security_level,
            "signing_kid": self.t.signing_kid,
            # A copy of one real file: see the module docstring.
            "license_file": self.t.license_file,
        }


def _batches(rows: _Rows, count: int, sample_every: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for i in range(count):
        batch.append(rows.row(sample=(i + 1) % sample_every == 0))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(conn: Connection, account_id: str, mode: str) -> int:
    query = select(func.count()).where(License.account_id == account_id, License.mode == mode)
    return int(conn.scalar(query) or 0)


def _check_samples(
    session: Session, sealer: Sealer, account_id: str, mode: str, samples: list[Sample]
) -> None:
    """Read the samples back through the service: proof the signatures are the service's."""
    svc = LicenseService(session, sealer, SecretCache())
    for sample in samples:
        result = svc.validate(account_id, mode, sample.license_key, sample.end_customer_id)
        if not result.valid:
            raise RuntimeError(f"seeded {sample.license_key} validates as {result.code}")


def seed(
    settings: Settings,
    *,
    account_id: str | None = None,
    count: int | None = None,
    total: int | None = None,
    mode: str = "live",
    samples: int = SAMPLES,
    progress: bool = True,
) -> SeedResult:
    """Insert `count` licenses, or as many as the account lacks to hold `total`."""
    if (count is None) == (total is None):
        raise ValueError("pass exactly one of count and total")
    url = settings.resolved_database_url
    engine = make_engine(url, pool_size=1)
    sealer = make_sealer(settings)
    try:
        with make_session_factory(engine)() as session:
            account_id = _pick_account(session, account_id)
            template = _template(session, sealer, account_id, mode)
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                # This connection only: the server's connections keep their own settings.
                # A crash mid-load may lose the last batches, which is fine for bench data.
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB
                conn.commit()
            existing = _count(conn, account_id, mode)
            todo = count if count is not None else max(0, (total or 0) - existing)
            taken = set(
                conn.scalars(
                    select(License.license_key).where(License.account_id == account_id)
                ).all()
            )
            conn.commit()
            rows = _Rows(template, taken, utcnow())
            sample_every = max(1, todo // max(1, samples))
            statement = insert(LICENSES)
            picked: list[Sample] = []
            started = time.perf_counter()
            done = 0
            for batch in _batches(rows, todo, sample_every):
                conn.execute(statement, batch)
                conn.commit()
                done += len(batch)
                picked += [
                    Sample(row["license_key"], row["end_customer_id"])
                    for i, row in enumerate(batch, start=done - len(batch) + 1)
                    if i % sample_every == 0
                ]
                if progress and (done % 100_000 < BATCH or done == todo):
                    rate = done / (time.perf_counter() - started)
                    print(f"  seeded {done:,}/{todo:,} ({rate:,.0f} rows/s)", flush=True)
            seconds = time.perf_counter() - started
            if url.startswith("sqlite") and todo:
                # Fold the WAL into the database file, so that the server's reads do not
                # start out walking a large WAL index.
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()
            final = _count(conn, account_id, mode)
            conn.commit()
        if not picked:  # nothing inserted: sample what is there
            with make_session_factory(engine)() as session:
                now = utcnow()
                found = session.execute(
                    select(License.license_key, License.end_customer_id)
                    .where(
                        License.account_id == account_id,
                        License.mode == mode,
                        License.status == Status.ACTIVE.value,
                        License.valid_until > now + timedelta(days=1),
                    )
                    .order_by(License.id)  # random ids: spread over the table
                    .limit(samples)
                ).all()
            picked = [Sample(key, customer) for key, customer in found]
        picked = picked[:samples]
        with make_session_factory(engine)() as session:
            _check_samples(session, sealer, account_id, mode, picked)
    finally:
        engine.dispose()
    return SeedResult(account_id, mode, todo, final, seconds, picked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--account", help="account id (default: the only account)")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--count", type=int, help="licenses to add")
    size.add_argument("--total", type=int, help="top the account up to this many licenses")
    parser.add_argument("--test", action="store_true", help="seed test-mode licenses")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="sample keys to return")
    parser.add_argument("--samples-out", type=Path, help="write the result (JSON) here")
    args = parser.parse_args(argv)
    for name in ("count", "total", "samples"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "samples" else 0):
            parser.error(f"--{name} is too small")
    result = seed(
        Settings(),
        account_id=args.account,
        count=args.count,
        total=args.total,
        mode="test" if args.test else "live",
        samples=args.samples,
    )
    print(
        f"Inserted {result.inserted:,} licenses in {result.seconds:.1f} s "
        f"({result.rows_per_s:,.0f} rows/s); account {result.account_id} now holds "
        f"{result.total:,} {result.mode} licenses; {len(result.samples)} samples validate.",
        flush=True,
    )
    if args.samples_out is not None:
        args.samples_out.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
