"""All SQL of the SAML protocol: outstanding AuthnRequests, consumed assertion IDs and the
SSO sessions single logout ends. Conditional writes, so that two nodes sharing the database
cannot both accept one request or one assertion."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from quantumlock.identity.models import SamlAssertionId, SamlRequest, UserSession

PURGE_BATCH = 100


class SamlProtocolRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- AuthnRequests ------------------------------------------------------------------------

    def add_request(self, row: SamlRequest) -> None:
        self.session.add(row)

    def live_request(self, account_id: str, request_id: str, now: datetime) -> SamlRequest | None:
        """The account's unused, unexpired request (another account's is none)."""
        return self.session.scalars(
            select(SamlRequest).where(
                SamlRequest.id == request_id,
                SamlRequest.account_id == account_id,
                SamlRequest.used_at.is_(None),
                SamlRequest.expires_at > now,
            )
        ).first()

    def spend_request(self, account_id: str, request_id: str, now: datetime) -> bool:
        """Mark the request answered, unless another transaction did first (the condition
        is re-checked under the row lock: two responses to one request, one wins)."""
        result = self.session.execute(
            update(SamlRequest)
            .where(
                SamlRequest.id == request_id,
                SamlRequest.account_id == account_id,
                SamlRequest.used_at.is_(None),
                SamlRequest.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def purge_requests(self, now: datetime) -> None:
        """Drop a batch of expired requests (they can no longer be answered)."""
        keys = select(SamlRequest.id).where(SamlRequest.expires_at < now).limit(PURGE_BATCH)
        self.session.execute(
            delete(SamlRequest)
            .where(SamlRequest.id.in_(keys.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )

    # -- consumed assertions ------------------------------------------------------------------

    def consume_assertion(self, row: SamlAssertionId) -> bool:
        """Insert the assertion's key: False when it is there already (a replay, on this
        node or another; a concurrent insert waits for the first and then conflicts)."""
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    def purge_assertions(self, now: datetime) -> None:
        """Drop a batch of assertion keys whose assertions have expired (replaying one is
        refused as expired anyway)."""
        keys = (
            select(SamlAssertionId.key).where(SamlAssertionId.expires_at < now).limit(PURGE_BATCH)
        )
        self.session.execute(
            delete(SamlAssertionId)
            .where(SamlAssertionId.key.in_(keys.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )

    # -- SSO sessions -------------------------------------------------------------------------

    def sso_sessions(
        self, account_id: str, name_id: str, session_indexes: Sequence[str]
    ) -> Sequence[UserSession]:
        """The account's live SSO sessions of a NameID (and of these SessionIndexes, if any)."""
        query = select(UserSession).where(
            UserSession.account_id == account_id,
            UserSession.method == "sso",
            UserSession.sso_name_id == name_id,
            UserSession.revoked_at.is_(None),
        )
        if session_indexes:
            query = query.where(UserSession.sso_session_index.in_(list(session_indexes)))
        return self.session.scalars(query).all()
