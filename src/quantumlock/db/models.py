"""Imports every domain's tables so Alembic sees one complete metadata."""

from quantumlock.accounts.models import Account
from quantumlock.auth.models import ApiKey
from quantumlock.db.base import Base, ChangeEvent

metadata = Base.metadata

__all__ = ["Account", "ApiKey", "ChangeEvent", "metadata"]
