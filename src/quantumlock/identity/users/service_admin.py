"""Managing an account's users: list, update (role, name), disable, enable, delete, and
their sessions. RANK rules (quantumlock.identity.roles) and the last-owner rule live here."""

from __future__ import annotations

from quantumlock.identity.users.service_base import UserServiceBase


class UserAdmin(UserServiceBase):
    pass
