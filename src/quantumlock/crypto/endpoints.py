"""/api/v1/quantum/keys, /quantum/rsa and /quantum/crypto/{encrypt,decrypt,sign,verify}.

Encrypt and decrypt are async and only parse and shape: crypto.encryption.Encryptor chooses
between the cached key and the keystore. The others are sync handlers on purpose: drawing
entropy blocks, so it runs in the request's worker thread, never on the event loop. RSA
generation (`/rsa`, the first `/crypto/sign` without `key_id`) runs in the keygen process
pool, capped per account (crypto.keygen_pool; 429 past the cap).
"""

from __future__ import annotations

from fastapi import Query, Request, Response
from sqlalchemy.orm import Session

from quantumlock.auth.principal import Principal
from quantumlock.auth.scopes import Scope
from quantumlock.core.errors import Conflict, DecryptionFailed, QuantumUnavailable
from quantumlock.crypto.domain import crypto_of
from quantumlock.crypto.encoding import decode_b64, decode_nonce, encode_b64
from quantumlock.crypto.operations import CryptoService
from quantumlock.crypto.schemas import (
    MAX_AAD,
    MAX_DATA,
    MAX_SIGNATURE,
    DecryptIn,
    DecryptOut,
    EncryptIn,
    EncryptOut,
    KeyCreatedOut,
    KeyCreateIn,
    KeyList,
    KeyOut,
    RsaCreatedOut,
    RsaCreateIn,
    SignIn,
    SignOut,
    VerifyIn,
    VerifyOut,
)
from quantumlock.crypto.service import CreatedKey, KeystoreService
from quantumlock.web.body import json_body, json_body_openapi
from quantumlock.web.idempotency import IDEMPOTENT_OPENAPI, idempotent
from quantumlock.web.openapi import may_raise
from quantumlock.web.responses import model_response
from quantumlock.web.routing import PrefixRouter
from quantumlock.web.security import require, unit_of_work

router = PrefixRouter(prefix="/api/v1/quantum", tags=["quantum keystore and crypto"])


def keystore(request: Request, session: Session) -> KeystoreService:
    return crypto_of(request).keystore(session)


def crypto(request: Request, session: Session) -> CryptoService:
    return crypto_of(request).crypto(session)


def _exported(created: CreatedKey) -> str | None:
    return None if created.exported is None else encode_b64(created.exported)


def _aad(value: str | None) -> bytes | None:
    return None if value is None else decode_b64(value, "aad", max_bytes=MAX_AAD)


# -- keystore ----------------------------------------------------------------------------


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreatedOut,
    summary="Create (or import) a key",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(QuantumUnavailable),
    description="Material is drawn from the entropy service (or imported with `key`), sealed "
    "under the master key, and returned once, in `key`, only if `exportable`.",
)
def create_key(
    request: Request, body: KeyCreateIn, principal: Principal = require(Scope.QUANTUM_KEYS)
) -> Response:
    material = None if body.key is None else decode_b64(body.key, "key", max_bytes=64)
    # Exportable material is in the answer: a replay shows it again (stored sealed), the
    # same as a replayed API key's secret (quantumlock.idempotency).
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        created = keystore(request, session).create(
            principal.actor,
            body.algorithm,
            exportable=body.exportable,
            source=body.source,
            material=material,
        )
        out = KeyCreatedOut(**KeyOut.fields_of(created.key), key=_exported(created))
        return idem.answer(session, model_response(out, 201))


@router.get("/keys", response_model=KeyList, summary="List keys (never material), newest first")
def list_keys(
    request: Request,
    skip: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = require(Scope.QUANTUM_KEYS),
) -> Response:
    """The account's keystore keys of the calling key's mode (live or test), newest first,
    `skip`/`limit` paged; `total` counts them all. Destroyed keys are not listed."""
    with unit_of_work(request) as session:
        total, rows = keystore(request, session).list(principal.actor, skip=skip, limit=limit)
        page = KeyList(keys=[KeyOut.from_row(r) for r in rows], total=total, skip=skip, limit=limit)
        return model_response(page)


@router.get("/keys/{key_id}", response_model=KeyOut, summary="Get a key (never material)")
def get_key(
    request: Request, key_id: str, principal: Principal = require(Scope.QUANTUM_KEYS)
) -> Response:
    """One keystore key's metadata and public key; never its material. Another account's
    key, the other mode's and a destroyed one are 404."""
    with unit_of_work(request) as session:
        row = keystore(request, session).get(principal.actor, key_id)
        return model_response(KeyOut.from_row(row))


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Destroy a key",
    description="The sealed material is overwritten with NULL; the id is 404 afterwards.",
)
def delete_key(
    request: Request, key_id: str, principal: Principal = require(Scope.QUANTUM_KEYS)
) -> Response:
    caller = principal.actor
    # Announced when the unit of work commits: the key cache forgets the key at once here,
    # and in the other processes through the change feed.
    with unit_of_work(request) as session:
        keystore(request, session).destroy(caller, key_id)
    return Response(status_code=204)


@router.post(
    "/rsa",
    status_code=201,
    response_model=RsaCreatedOut,
    summary="Generate an RSA key from quantum-seeded primes",
    openapi_extra=IDEMPOTENT_OPENAPI,
    responses=may_raise(QuantumUnavailable),
    description="Primes come from a SHAKE-256 stream seeded with 64 bytes from the entropy "
    "service, Miller-Rabin tested (FIPS 186-5). The key signs with SHA3-512-RSA.",
)
def create_rsa(
    request: Request, body: RsaCreateIn, principal: Principal = require(Scope.QUANTUM_KEYS)
) -> Response:
    with idempotent(request, principal) as idem, unit_of_work(request) as session:
        created = keystore(request, session).create_rsa(
            principal.actor, body.bits, exportable=body.exportable, source=body.source
        )
        out = RsaCreatedOut(**KeyOut.fields_of(created.key), key=_exported(created), bits=body.bits)
        return idem.answer(session, model_response(out, 201))


# -- operations --------------------------------------------------------------------------


@router.post(
    "/crypto/encrypt",
    response_model=EncryptOut,
    summary="Encrypt with AES-256-GCM or ChaCha20-Poly1305",
    openapi_extra=json_body_openapi(EncryptIn),
    # 409: a key past its invocation limit, or whose sealed material cannot be opened.
    responses=may_raise(Conflict, QuantumUnavailable),
    description="`key_id` null uses the account's default key for `algorithm` (per mode): "
    "the first such call creates it (non-exportable), later calls reuse it; it is listed "
    "with `default_for` set, and destroying it makes the next call create a new one. "
    "Plaintext at most 1 MiB decoded. The 12-byte IV comes from the entropy service.",
)
async def encrypt(
    request: Request, principal: Principal = require(Scope.QUANTUM_CRYPTO)
) -> Response:
    body = await json_body(request, EncryptIn)
    plaintext = decode_b64(body.plaintext, "plaintext", max_bytes=MAX_DATA)
    done = await crypto_of(request).encryptor.encrypt(
        principal.actor, plaintext, key_id=body.key_id, algorithm=body.algorithm,
        aad=_aad(body.aad),
    )  # fmt: skip
    return model_response(
        EncryptOut(
            ciphertext=encode_b64(done.ciphertext),
            key_id=done.key.id,
            iv=encode_b64(done.iv),
            tag=encode_b64(done.tag),
            algorithm=done.key.algorithm,
            quantum_secured=done.key.quantum_verified,
            key_version=done.key.version,
        )
    )


@router.post(
    "/crypto/decrypt",
    response_model=DecryptOut,
    summary="Decrypt what /crypto/encrypt produced",
    openapi_extra=json_body_openapi(DecryptIn),
    responses=may_raise(DecryptionFailed, Conflict),
    description="A wrong key, tag, iv, aad or ciphertext is 400 DECRYPTION_FAILED (one answer "
    "for all); a key that is not an encryption key is 400 VALIDATION_ERROR.",
)
async def decrypt(
    request: Request, principal: Principal = require(Scope.QUANTUM_CRYPTO)
) -> Response:
    body = await json_body(request, DecryptIn)
    ciphertext = decode_b64(body.ciphertext, "ciphertext", max_bytes=MAX_DATA)
    iv = decode_b64(body.iv, "iv", max_bytes=12, exact=12)
    tag = decode_b64(body.tag, "tag", max_bytes=16, exact=16)
    done = await crypto_of(request).encryptor.decrypt(
        principal.actor, ciphertext, key_id=body.key_id, iv=iv, tag=tag,
        aad=_aad(body.aad), algorithm=body.algorithm,
    )  # fmt: skip
    out = DecryptOut(
        plaintext=encode_b64(done.plaintext), key_id=done.key.id, algorithm=done.key.algorithm
    )
    return model_response(out)


@router.post(
    "/crypto/sign",
    response_model=SignOut,
    summary="Sign with a fresh quantum nonce bound into the signed bytes",
    responses=may_raise(Conflict, QuantumUnavailable),
    description="`key_id` null uses the account's default signing key for `algorithm` (per "
    "mode; RSA-3072 for SHA3-512-RSA): the first such call creates it, later calls reuse it. "
    "Signed bytes: `QL-SIGN-v1\\0` + algorithm + `\\0` + nonce (16 bytes) + "
    "message. SHA3-512-RSA is RSA-PSS with SHA3-512, MGF1-SHA3-512, salt = 64 bytes. The "
    "hybrid signature is Ed25519 (64 bytes) followed by ML-DSA-65 (3309 bytes).",
)
def sign(
    request: Request, body: SignIn, principal: Principal = require(Scope.QUANTUM_CRYPTO)
) -> Response:
    message = decode_b64(body.message, "message", max_bytes=MAX_DATA)
    with unit_of_work(request) as session:
        done = crypto(request, session).sign(
            principal.actor, message, key_id=body.key_id, algorithm=body.algorithm
        )
        assert done.key.public_key is not None  # noqa: S101 (signing keys have one)
        out = SignOut(
            signature=encode_b64(done.signature),
            key_id=done.key.id,
            public_key=done.key.public_key,
            algorithm=done.algorithm,
            quantum_nonce=done.nonce.hex(),
        )
        return model_response(out)


@router.post(
    "/crypto/verify",
    response_model=VerifyOut,
    summary="Verify a signature with a keystore key or a given public key",
    description="With `quantum_nonce` the signed bytes are rebuilt as /crypto/sign made them; "
    "with `quantum_nonce` null or absent the message is verified as-is (no binding), for "
    "signatures made elsewhere. A wrong signature is `valid: false`; malformed base64, hex "
    "or PEM is 400.",
)
def verify(
    request: Request, body: VerifyIn, principal: Principal = require(Scope.QUANTUM_CRYPTO)
) -> Response:
    message = decode_b64(body.message, "message", max_bytes=MAX_DATA)
    signature = decode_b64(body.signature, "signature", max_bytes=MAX_SIGNATURE)
    nonce = None if body.quantum_nonce is None else decode_nonce(body.quantum_nonce)
    context = None if body.context is None else decode_b64(body.context, "context", max_bytes=255)
    with unit_of_work(request) as session:
        result = crypto(request, session).verify(
            principal.actor,
            message,
            signature,
            nonce=nonce,
            algorithm=body.algorithm,
            key_id=body.key_id,
            public_key=body.public_key,
            context=context,
        )
        out = VerifyOut(valid=result.valid, algorithm=body.algorithm, key_id=result.key_id)
        return model_response(out)
