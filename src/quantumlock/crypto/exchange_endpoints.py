"""/api/v1/quantum/crypto/key-exchange. Sync: drawing entropy blocks (worker thread)."""

from __future__ import annotations

from fastapi import Request, Response

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import Conflict, QuantumUnavailable
from quantumlock.crypto.domain import crypto_of
from quantumlock.crypto.encoding import decode_b64, encode_b64
from quantumlock.crypto.exchange_schemas import MAX_PUBLIC, KeyExchangeIn, KeyExchangeOut
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v1/quantum/crypto", tags=["quantum keystore and crypto"])


@router.post(
    "/key-exchange",
    response_model=KeyExchangeOut,
    summary="Key exchange: X25519 or hybrid X25519 + ML-KEM-768",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(Conflict, QuantumUnavailable),
    description="No peer key, no session: initiate (a session that expires in 10 minutes). "
    "Peer key, no session: respond, with the shared secret at once. Peer key and session: "
    "complete the session (single use: again is 409 CONFLICT, expired or unknown 404).",
)
def key_exchange(
    request: Request, body: KeyExchangeIn, principal: Principal = require(Scope.QUANTUM_CRYPTO)
) -> Response:
    peer = (
        None
        if body.peer_public_key is None
        else decode_b64(body.peer_public_key, "peer_public_key", max_bytes=MAX_PUBLIC)
    )
    # Idempotent: initiating stores a session, completing consumes one. The answer may hold
    # the shared secret: a replay shows it again, stored sealed (quantumlock.idempotency).
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        step = (
            crypto_of(request)
            .key_exchange(session)
            .exchange(
                principal.actor,
                algorithm=body.algorithm,
                key_bits=body.key_bits,
                peer_public_key=peer,
                session_id=body.session_id,
                algorithm_given="algorithm" in body.model_fields_set,
                key_bits_given="key_bits" in body.model_fields_set,
            )
        )
        out = KeyExchangeOut(
            session_id=step.session_id,
            public_key=encode_b64(step.public_key),
            shared_secret=None if step.shared_secret is None else encode_b64(step.shared_secret),
            algorithm=step.algorithm,
            key_bits=step.key_bits,
            expires_at=step.expires_at,
        )
        return idem.answer(session, model_response(out))
