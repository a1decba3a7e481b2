"""The crypto domain's `install` (quantumlock.web.install): keystore, AEAD, signatures,
key exchange under /api/v1/quantum."""

from __future__ import annotations

from functools import partial

from quantumlock.crypto.cache import CHANGE_KIND_QUANTUM_KEY, KeyMaterialCache
from quantumlock.crypto.domain import CryptoDomain
from quantumlock.crypto.encryption import Encryptor
from quantumlock.crypto.endpoints import router as keys_router
from quantumlock.crypto.exchange_endpoints import router as key_exchange_router
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.db.unit_of_work import unit_of_work
from quantumlock.web.install import Infra


def install(infra: Infra) -> None:
    settings, runtime = infra.settings, infra.runtime
    key_material = KeyMaterialCache(settings.key_material_cache_ttl)
    keygen = RsaKeygen(settings.keygen_workers, settings.expensive_calls_per_account)
    invocations = InvocationBudget(partial(unit_of_work, runtime.sessions))
    crypto = CryptoDomain(
        runtime.sealer,
        runtime.entropy,
        key_material,
        keygen,
        invocations,
        Encryptor(
            key_material,
            invocations,
            runtime.entropy,
            partial(unit_of_work, runtime.sessions),
            runtime.sealer,
            keygen,
        ),
    )
    infra.provide("crypto", crypto)
    # A destroyed key: every process drops its opened material and its unused invocations.
    infra.on_change(CHANGE_KIND_QUANTUM_KEY, crypto.key_material.invalidate)
    infra.on_change(CHANGE_KIND_QUANTUM_KEY, invocations.forget)
    infra.include_router(key_exchange_router)
    infra.include_router(keys_router)
    infra.serve_fast("POST", "/api/v1/quantum/crypto/encrypt")
    infra.serve_fast("POST", "/api/v1/quantum/crypto/decrypt")
    infra.on_shutdown("keygen_close", crypto.close)
