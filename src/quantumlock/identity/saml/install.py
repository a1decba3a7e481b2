"""Installs identity's `saml` part: the configuration API and the browser routes. Without the
`[saml]` extra (python3-saml, xmlsec) the part is left out and the server says so."""

from __future__ import annotations

import importlib.util

import structlog

from quantumlock.web.install import Infra

log = structlog.get_logger(__name__)


def available() -> bool:
    return importlib.util.find_spec("onelogin") is not None


def install(infra: Infra) -> None:
    if not available():
        log.warning("saml_unavailable", hint="install quantumlock[saml] for SAML SSO")
        return
    from quantumlock.identity.saml import api_endpoints, endpoints

    infra.include_router(api_endpoints.router)
    infra.include_router(endpoints.router)
