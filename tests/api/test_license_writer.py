"""New licenses: stored in the caller's unit of work, or by the group commit the API uses.

The group commit (licensing/writer.py) must keep the monthly quota exact, and a failure in a
batch must fail only its own request.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from quantumlock.accounts.plans import EffectiveLimits, limits_of_account
from quantumlock.accounts.service import AccountService
from quantumlock.core.actor import Actor
from quantumlock.core.clock import utcnow
from quantumlock.core.errors import Conflict, RateLimited
from quantumlock.db.base import ChangeEvent
from quantumlock.entropy.types import Draw
from quantumlock.licensing.models import License, LicenseEvent, LicenseUsage
from quantumlock.licensing.service import Draft, LicenseService
from quantumlock.licensing.writer import LicenseWriter
from tests.conftest import AccountFixture

Outcome = tuple[str, Any]  # ("ok", license key) or ("error", the exception)


def _limits(app: FastAPI, account_id: str, per_month: int | None) -> EffectiveLimits:
    with app.state.runtime.sessions() as session:
        accounts = AccountService(session)
        if per_month is not None:
            accounts.set_limits(account_id, licenses_per_month=per_month)
        return limits_of_account(accounts.get(account_id))


def _draft(app: FastAPI, caller: Actor, limits: EffectiveLimits) -> Draft:
    runtime = app.state.runtime
    with runtime.sessions() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        return svc.draft(
            caller, limits, end_customer_id="c", features=["f"], valid_days=30, metadata={}
        )


def _issue(draft: Draft, writer: LicenseWriter) -> Outcome:
    try:
        lic, _ = draft.issue(writer.store)
    except (RateLimited, Conflict) as exc:
        return "error", exc
    return "ok", lic.license_key


def _counts(app: FastAPI, account_id: str) -> tuple[int, int, int]:
    """(licenses stored, generate audit records, the usage counter) of an account."""
    with app.state.runtime.sessions() as session:
        licenses = session.scalar(
            select(func.count()).select_from(License).where(License.account_id == account_id)
        )
        events = session.scalar(
            select(func.count())
            .select_from(LicenseEvent)
            .where(LicenseEvent.account_id == account_id, LicenseEvent.action == "generate")
        )
        used = session.scalar(
            select(func.coalesce(func.sum(LicenseUsage.used), 0)).where(
                LicenseUsage.account_id == account_id
            )
        )
        return int(licenses or 0), int(events or 0), int(used or 0)


class GatedSessions:
    """The writer's session factory, holding the first batch until `open` is set, so the
    requests that arrive meanwhile queue up and are written as one batch."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions
        self.open = threading.Event()

    def __call__(self) -> Session:
        assert self.open.wait(10)
        return self.sessions()


def _queued(writer: LicenseWriter, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(writer._queue) < count:
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.005)


def _batch_behind_a_held_leader(
    app: FastAPI,
    first: Draft,
    queued: list[Draft],
    issue: Callable[[Draft, LicenseWriter], Outcome] = _issue,
) -> tuple[Outcome, list[Outcome]]:
    """`first` leads and is held while `queued` line up behind it (one batch)."""
    gate = GatedSessions(app.state.runtime.sessions)
    writer = LicenseWriter(gate)  # type: ignore[arg-type]
    with ThreadPoolExecutor(len(queued) + 1) as pool:
        leader = pool.submit(issue, first, writer)
        deadline = time.monotonic() + 10
        while not writer._leading:  # the leader took its own item and waits at the gate
            assert time.monotonic() < deadline
            time.sleep(0.005)
        rest = [pool.submit(issue, draft, writer) for draft in queued]
        _queued(writer, len(queued))
        gate.open.set()
        return leader.result(30), [f.result(30) for f in rest]


def test_generate_only_flushes_and_the_caller_commits(
    app: FastAPI, account: AccountFixture
) -> None:
    runtime = app.state.runtime
    limits = _limits(app, account.id, None)
    caller = Actor(account.id, "live", "t")
    with runtime.sessions() as session:  # never committed: nothing stays
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        svc.generate(caller, limits, end_customer_id="c", features=[], valid_days=1, metadata={})
    assert _counts(app, account.id) == (0, 0, 0)
    with runtime.sessions() as session:
        svc = LicenseService(session, runtime.sealer, app.state.licensing.secret_cache)
        svc.generate(caller, limits, end_customer_id="c", features=[], valid_days=1, metadata={})
        session.commit()
    assert _counts(app, account.id) == (1, 1, 1)


def test_concurrent_generates_through_the_group_commit_spend_the_quota_exactly(
    app: FastAPI, make_account: Callable[..., AccountFixture]
) -> None:
    acct = make_account(plan="free")
    limits = _limits(app, acct.id, 15)
    caller = Actor(acct.id, "live", "t")
    writer = LicenseWriter(app.state.runtime.sessions)

    def one(_: int) -> Outcome:
        try:
            draft = _draft(app, caller, limits)
        except RateLimited as exc:  # refused by the read before signing
            return "error", exc
        return _issue(draft, writer)

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(one, range(40)))
    granted = [o for o in outcomes if o[0] == "ok"]
    refused = [o for o in outcomes if isinstance(o[1], RateLimited)]
    assert len(granted) == 15 and len(refused) == 25
    assert len({key for _, key in granted}) == 15
    assert _counts(app, acct.id) == (15, 15, 15)


def test_a_batch_larger_than_the_quota_left_grants_what_fits_and_refuses_the_rest(
    app: FastAPI, make_account: Callable[..., AccountFixture]
) -> None:
    acct = make_account(plan="free")
    limits = _limits(app, acct.id, 3)
    caller = Actor(acct.id, "live", "t")
    drafts = [_draft(app, caller, limits) for _ in range(4)]  # all read an unspent quota
    first, rest = _batch_behind_a_held_leader(app, drafts[0], drafts[1:])
    assert first[0] == "ok"
    assert sorted(o[0] for o in rest) == ["error", "ok", "ok"]
    assert all(isinstance(o[1], RateLimited) for o in rest if o[0] == "error")
    assert _counts(app, acct.id) == (3, 3, 3)


def test_a_failure_in_a_batch_fails_only_its_own_request(
    app: FastAPI, account: AccountFixture
) -> None:
    limits = _limits(app, account.id, None)
    caller = Actor(account.id, "live", "t")
    taken_key = _issue(_draft(app, caller, limits), LicenseWriter(app.state.runtime.sessions))
    assert taken_key[0] == "ok"
    drafts = [_draft(app, caller, limits) for _ in range(4)]
    real = drafts[2].entropy

    def same_key_every_time(nbytes: int) -> Draw:  # a key already stored, at every attempt
        raw = str(taken_key[1]).removeprefix("QLOCK-").replace("-", "")
        return dataclasses.replace(real(nbytes), data=bytes.fromhex(raw))

    drafts[2] = dataclasses.replace(drafts[2], entropy=same_key_every_time)
    first, rest = _batch_behind_a_held_leader(app, drafts[0], drafts[1:])
    assert first[0] == "ok" and rest[0][0] == "ok" and rest[2][0] == "ok"
    assert rest[1][0] == "error" and isinstance(rest[1][1], Conflict)
    # The first license, then the leader's and the two good ones of the failed batch.
    assert _counts(app, account.id) == (4, 4, 4)


def test_test_mode_licenses_go_through_the_group_commit_uncounted(
    app: FastAPI, account: AccountFixture
) -> None:
    limits = _limits(app, account.id, 1)
    caller = Actor(account.id, "test", "t")
    drafts = [_draft(app, caller, limits) for _ in range(3)]
    first, rest = _batch_behind_a_held_leader(app, drafts[0], drafts[1:])
    assert [first[0], *(o[0] for o in rest)] == ["ok"] * 3
    assert _counts(app, account.id) == (3, 3, 0)


def test_what_a_request_commits_with_its_license_lands_with_it_or_not_at_all(
    app: FastAPI, account: AccountFixture
) -> None:
    """`issue(store, also)`: what `also` writes (a request's idempotent answer) is in the
    license's own transaction, in a batch too; if it fails, that license is not stored and
    only that request fails."""
    limits = _limits(app, account.id, None)
    caller = Actor(account.id, "live", "t")
    drafts = [_draft(app, caller, limits) for _ in range(4)]
    failing = drafts[2]

    def also_for(draft: Draft) -> Callable[[Session, License, Any], None]:
        def write(session: Session, lic: License, _quota: Any) -> None:
            if draft is failing:
                raise RuntimeError("the answer could not be stored")
            session.add(ChangeEvent(kind="test.also", ref=lic.license_key, created_at=utcnow()))

        return write

    def issue(draft: Draft, writer: LicenseWriter) -> Outcome:
        try:
            lic, _ = draft.issue(writer.store, also_for(draft))
        except RuntimeError as exc:
            return "error", exc
        return "ok", lic.license_key

    first, rest = _batch_behind_a_held_leader(app, drafts[0], drafts[1:], issue)
    assert [first[0], *(o[0] for o in rest)] == ["ok", "ok", "error", "ok"]
    granted = {str(o[1]) for o in (first, *rest) if o[0] == "ok"}
    assert _counts(app, account.id) == (3, 3, 3)
    with app.state.runtime.sessions() as session:
        refs = set(session.scalars(select(ChangeEvent.ref).where(ChangeEvent.kind == "test.also")))
        stored = set(
            session.scalars(select(License.license_key).where(License.account_id == account.id))
        )
    assert stored == granted and granted <= refs
