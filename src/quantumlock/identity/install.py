"""The identity domain's `install` (quantumlock.web.install): each part installs itself.

`bearer` comes last: it wraps the authenticator the auth domain installed, so OAuth access
tokens are accepted wherever API keys are.
"""

from __future__ import annotations

from quantumlock.identity.bearer import install as bearer
from quantumlock.identity.clients import install as clients
from quantumlock.identity.oauth import install as oauth
from quantumlock.identity.saml import install as saml
from quantumlock.identity.users import install as users
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    users.install(infra)
    clients.install(infra)
    oauth.install(infra)
    saml.install(infra)
    bearer.install(infra)
