"""What the provider needs of the users and clients parts, through their services (the
contract's ClientService.find/check_secret/is_active/allowed_scopes/oidc_scopes and
UserService.get/scopes_of/is_active): one place to read a client, a service account or a
user."""

from __future__ import annotations

from sqlalchemy.orm import Session

from quantumlock.auth.scopes import Scope
from quantumlock.identity.clients.service import ClientService
from quantumlock.identity.models import OAuthClient, ServiceAccount, User
from quantumlock.identity.users.service import UserService
from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import Sealer

Party = OAuthClient | ServiceAccount


class Directory:
    def __init__(self, session: Session, hasher: KeyHasher, sealer: Sealer) -> None:
        self.clients = ClientService(session, hasher)
        # Reads only (get, scopes_of, is_active): the session lifetimes do not matter here.
        self.users = UserService(session, hasher, sealer)

    # -- clients and service accounts
    def find(self, client_id: str) -> Party | None:
        return self.clients.find(client_id)

    def check_secret(self, client_id: str, secret: str) -> bool:
        return self.clients.check_secret(client_id, secret)

    def is_active(self, party: Party) -> bool:
        return self.clients.is_active(party)

    def allowed_scopes(self, party: Party) -> frozenset[Scope]:
        return self.clients.allowed_scopes(party)

    def oidc_scopes(self, party: Party) -> frozenset[str]:
        return self.clients.oidc_scopes(party)

    # -- users
    def user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def scopes_of(self, user: User) -> frozenset[Scope]:
        return self.users.scopes_of(user)

    def user_active(self, user: User) -> bool:
        return self.users.is_active(user)
