"""Roles and the scopes each one holds (README, "Users and roles").

A user's OAuth token never carries more than its role holds, and the role is read again when
the token is used: demoting a user narrows the tokens already issued to them.
"""

from __future__ import annotations

from enum import StrEnum

from quantumlock.auth.scopes import ALL_SCOPES, Scope, expand


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


_READ = frozenset(
    {
        Scope.ACCOUNT_READ,
        Scope.LICENSES_READ,
        Scope.OPTIMIZE_READ,
        Scope.BACKENDS_READ,
        Scope.EVIDENCE_READ,
    }
)

# What each role holds, before implied scopes are added (`quantumlock.auth.scopes.expand`).
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OWNER: ALL_SCOPES,
    Role.ADMIN: ALL_SCOPES,
    Role.MEMBER: ALL_SCOPES - {Scope.ADMIN},
    Role.VIEWER: _READ,
}

# Owners can do everything admins can, and also manage owners (an admin cannot make, demote,
# disable or delete an owner, nor make another user owner).
RANK: dict[Role, int] = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_scopes(role: Role | str) -> frozenset[Scope]:
    """Every scope the role holds, implied ones included."""
    return expand(ROLE_SCOPES[Role(role)])
