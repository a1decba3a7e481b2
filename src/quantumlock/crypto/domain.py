"""The crypto domain in one app: opened-key cache, AEAD budget, RSA keygen, services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from quantumlock.crypto.cache import KeyMaterialCache
from quantumlock.crypto.encryption import Encryptor
from quantumlock.crypto.exchange_service import KeyExchangeService
from quantumlock.crypto.invocations import InvocationBudget
from quantumlock.crypto.keygen_pool import RsaKeygen
from quantumlock.crypto.operations import CryptoService
from quantumlock.crypto.service import KeystoreService
from quantumlock.entropy.service import EntropyService
from quantumlock.keyring.sealing import Sealer

if TYPE_CHECKING:
    from fastapi import Request


@dataclass
class CryptoDomain:
    sealer: Sealer
    entropy: EntropyService
    key_material: KeyMaterialCache
    keygen: RsaKeygen  # RSA generation off the request threads, capped per account
    invocations: InvocationBudget  # AEAD invocation counts, reserved in blocks
    # Encrypt and decrypt: the cached key, else the stored one (quantumlock.crypto.encryption).
    encryptor: Encryptor

    def keystore(self, session: Session) -> KeystoreService:
        return KeystoreService(session, self.sealer, self.entropy, self.keygen)

    def crypto(self, session: Session) -> CryptoService:
        return CryptoService(
            session, self.sealer, self.entropy, self.key_material, self.keygen, self.invocations
        )

    def key_exchange(self, session: Session) -> KeyExchangeService:
        return KeyExchangeService(session, self.sealer, self.entropy)

    async def close(self) -> None:
        await asyncio.to_thread(self.keygen.close)
        await asyncio.to_thread(self.invocations.close)


def crypto_of(request: Request) -> CryptoDomain:
    crypto: CryptoDomain = request.app.state.crypto
    return crypto
