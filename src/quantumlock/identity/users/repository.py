"""All SQL of the users part: users, their sessions, one-time links and recovery codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from quantumlock.db.pagination import Page, newest_first_page
from quantumlock.identity.models import User, UserRecoveryCode, UserSession, UserToken


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- users -----------------------------------------------------------------------------

    def add(self, row: object) -> None:
        self.session.add(row)

    def add_once(self, row: object) -> bool:
        """Insert a row whose unique hash may be inserted by a concurrent request too: False
        (and the transaction still usable) when that one got there first."""
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    def get(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def get_in_account(self, account_id: str, user_id: str) -> User | None:
        user = self.session.get(User, user_id)
        return user if user is not None and user.account_id == account_id else None

    def by_email(self, email: str) -> User | None:
        return self.session.scalars(select(User).where(User.email == email)).first()

    def page(self, account_id: str, *, cursor: str | None, limit: int) -> Page[User]:
        after = None
        if cursor is not None:
            last = self.get_in_account(account_id, cursor)
            if last is not None:
                after = (last.created_at, last.id)
        query = select(User).where(User.account_id == account_id)
        return newest_first_page(
            self.session, query, created_at=User.created_at, id_=User.id, after=after, limit=limit
        )

    def active_owners(self, account_id: str) -> int:
        query = select(func.count()).where(
            User.account_id == account_id, User.role == "owner", User.status == "active"
        )
        return int(self.session.scalar(query) or 0)

    def lock_active_owners(self, account_id: str) -> int:
        """Count the active owners with their rows locked (PostgreSQL; SQLite has one
        writer): two owners demoting each other at once must not both see "two owners"."""
        query = (
            select(User.id)
            .where(User.account_id == account_id, User.role == "owner", User.status == "active")
            .order_by(User.id)
            .with_for_update()
        )
        return len(self.session.scalars(query).all())

    def count_failure(self, user: User) -> int:
        """One more consecutive failed sign-in, counted in the database (an increment, not
        a read-modify-write: parallel wrong passwords must each count towards the lock)."""
        count = self.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        set_committed_value(user, "failed_logins", count)
        return int(count)

    def delete_user(self, user: User) -> None:
        # Child rows first: SQLite enforces no cascades unless told to.
        for table in (UserSession, UserToken, UserRecoveryCode):
            self.session.execute(delete(table).where(table.user_id == user.id))
        self.session.delete(user)

    # -- sessions --------------------------------------------------------------------------

    def session_by_hash(self, token_hash: bytes) -> UserSession | None:
        return self.session.scalars(
            select(UserSession).where(UserSession.token_hash == token_hash)
        ).first()

    def session_by_id(self, session_id: str) -> UserSession | None:
        return self.session.get(UserSession, session_id)

    def get_session(self, user_id: str, session_id: str) -> UserSession | None:
        row = self.session.get(UserSession, session_id)
        return row if row is not None and row.user_id == user_id else None

    def live_sessions(self, user_id: str, now: datetime) -> Sequence[UserSession]:
        return self.session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        ).all()

    def revoke_sessions(self, user_id: str, now: datetime, *, keep: str | None = None) -> int:
        """End the user's live sessions, except the one with id `keep`; how many ended."""
        query = update(UserSession).where(
            UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(UserSession.id != keep)
        result = self.session.execute(
            query.values(revoked_at=now).execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- one-time links, used TOTP steps -----------------------------------------------------

    def token_by_hash(self, token_hash: bytes) -> UserToken | None:
        return self.session.scalars(
            select(UserToken).where(UserToken.token_hash == token_hash)
        ).first()

    def unused_tokens(self, user_id: str, purposes: Sequence[str]) -> Sequence[UserToken]:
        return self.session.scalars(
            select(UserToken).where(
                UserToken.user_id == user_id,
                UserToken.purpose.in_(purposes),
                UserToken.used_at.is_(None),
            )
        ).all()

    def spend_token(self, token_id: str, now: datetime) -> bool:
        """Mark a one-time token used, unless another transaction did first (the condition
        is re-checked under the row lock: two requests with one link, one wins)."""
        result = self.session.execute(
            update(UserToken)
            .where(UserToken.id == token_id, UserToken.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def purge_tokens(self, user_id: str, purpose: str, before: datetime) -> None:
        self.session.execute(
            delete(UserToken).where(
                UserToken.user_id == user_id,
                UserToken.purpose == purpose,
                UserToken.expires_at < before,
            )
        )

    # -- recovery codes ----------------------------------------------------------------------

    def recovery_code(self, user_id: str, code_hash: bytes) -> UserRecoveryCode | None:
        return self.session.scalars(
            select(UserRecoveryCode).where(
                UserRecoveryCode.user_id == user_id, UserRecoveryCode.code_hash == code_hash
            )
        ).first()

    def spend_recovery_code(self, user_id: str, code_hash: bytes, now: datetime) -> bool:
        """Use a recovery code once, also when two sign-ins present it at the same time."""
        result = self.session.execute(
            update(UserRecoveryCode)
            .where(
                UserRecoveryCode.user_id == user_id,
                UserRecoveryCode.code_hash == code_hash,
                UserRecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def drop_recovery_codes(self, user_id: str) -> None:
        self.session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user_id))
