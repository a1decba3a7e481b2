"""All SQL of OAuth clients, service accounts and their secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from quantumlock.db.pagination import Page, newest_first_page
from quantumlock.identity.models import ClientSecret, OAuthClient, ServiceAccount

Row = OAuthClient | ServiceAccount


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Row | ClientSecret) -> None:
        self.session.add(row)

    def get_client(self, client_id: str) -> OAuthClient | None:
        return self.session.get(OAuthClient, client_id)

    def get_service_account(self, client_id: str) -> ServiceAccount | None:
        return self.session.get(ServiceAccount, client_id)

    def count(self, table: type[Row], account_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(table).where(table.account_id == account_id)
            )
            or 0
        )

    def page(
        self,
        table: type[Row],
        account_id: str,
        *,
        mode: str | None,
        after: Row | None,
        limit: int,
    ) -> Page[Row]:
        query = select(table).where(table.account_id == account_id)
        if mode is not None:
            query = query.where(table.mode == mode)
        return newest_first_page(
            self.session,
            query,
            created_at=table.created_at,
            id_=table.id,
            after=None if after is None else (after.created_at, after.id),
            limit=limit,
        )

    def delete(self, row: Row) -> None:
        self.session.execute(delete(ClientSecret).where(ClientSecret.owner_id == row.id))
        self.session.delete(row)

    # -- secrets ---------------------------------------------------------------------------

    def usable_secret(self, owner_id: str, secret_hash: bytes, now: datetime) -> bool:
        found = self.session.scalar(
            select(ClientSecret.id).where(
                ClientSecret.secret_hash == secret_hash,
                ClientSecret.owner_id == owner_id,
                ClientSecret.revoked_at.is_(None),
                or_(ClientSecret.expires_at.is_(None), ClientSecret.expires_at > now),
            )
        )
        return found is not None

    def live_secrets(self, owner_ids: Sequence[str], now: datetime) -> Sequence[ClientSecret]:
        """Secrets that still work (unrevoked, unexpired): the current one (no expiry) first,
        then the newest."""
        if not owner_ids:
            return []
        return self.session.scalars(
            select(ClientSecret)
            .where(
                ClientSecret.owner_id.in_(owner_ids),
                ClientSecret.revoked_at.is_(None),
                or_(ClientSecret.expires_at.is_(None), ClientSecret.expires_at > now),
            )
            .order_by(
                ClientSecret.expires_at.is_(None).desc(),
                ClientSecret.created_at.desc(),
                ClientSecret.id.desc(),
            )
        ).all()
