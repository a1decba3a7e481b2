"""Envelope encryption of secrets at rest under a keyring of master keys.

Each sealed value gets its own random data key (AES-256-GCM); the data key is wrapped
with a key-encryption key (KEK) derived from a master key. Rotating the master key
therefore re-wraps 32-byte data keys, never the data. The associated data binds a blob to
its row (e.g. the account id), so a blob copied to another row does not open.

Blob formats:

* v1 ``0x01 ‖ wrap nonce ‖ wrapped data key ‖ nonce ‖ ciphertext`` (older blobs; they
  name no key, so every key in the ring is tried);
* v2 ``0x02 ‖ key id (8) ‖ wrap nonce ‖ wrapped data key ‖ nonce ‖ ciphertext``, the key
  id naming the wrapping master key (8 bytes of SHA-256 over an HKDF-derived value, never
  the key itself). The wrap's associated data is ``0x02 ‖ key id ‖ aad``; the data layer
  is unchanged from v1 (``0x01 ‖ aad``), which is what lets `rewrap` leave it alone.

The keyring: the first key is current (new blobs); the others only open older blobs. A
`Sealer` given a `KeyringFile` re-reads it when it meets a key id it does not know, and at
most once a second when sealing, so a running node learns a new master key without a
restart (`quantumlock master-key rotate`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"  # v1 blobs, and the data layer of every blob
VERSION_2 = b"\x02"
KEY_ID_LEN = 8
_NONCE = 12
_WRAPPED = 32 + 16
_MIN_V1 = 1 + 2 * _NONCE + _WRAPPED + 16
_MIN_V2 = _MIN_V1 + KEY_ID_LEN
PEPPER_PREFIX = "api-key-pepper:"
PEPPER_INFO = b"quantumlock/api-key-pepper/v1"
RELOAD_INTERVAL = 1.0  # seconds between keyring file checks when sealing


class SealingError(Exception):
    pass


class KeyringError(SealingError):
    """The keyring (file or QL_MASTER_KEY) is malformed."""


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


def key_id(master_key: bytes) -> bytes:
    """A public name for a master key: reveals nothing usable about the key."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(_derive(master_key, b"quantumlock/master-key-id/v1"))
    return digest.finalize()[:KEY_ID_LEN]


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"Master key in {where} is not valid base64.") from None
    if len(key) != 32:
        raise KeyringError(f"Master key in {where} must decode to 32 bytes.")
    return key


def api_key_pepper_of(master_key: bytes) -> bytes:
    """The API-key pepper a master key gives (keyring.hasher.KeyHasher derives it the same way)."""
    return _derive(master_key, PEPPER_INFO)


@dataclass(frozen=True)
class Keyring:
    """Master keys, current first, and the pepper API-key hashes are made with.

    API keys are stored only as HMACs, so they cannot be re-hashed under a new master key:
    the pepper stays the one derived from the first master key ever used. Once a rotation
    writes the file it records the derived pepper itself, never that first key, so a
    retired master key really leaves the file (the pepper opens no sealed blob).
    """

    keys: tuple[bytes, ...]
    api_key_pepper: bytes

    def __repr__(self) -> str:  # never key material
        return f"Keyring({len(self.keys)} keys)"

    @classmethod
    def parse(cls, text: str, where: str) -> Keyring:
        keys: list[bytes] = []
        pepper: bytes | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(PEPPER_PREFIX):
                pepper = decode_key(line[len(PEPPER_PREFIX) :], f"{where} line {number}")
            else:
                keys.append(decode_key(line, f"{where} line {number}"))
        if not keys:
            raise KeyringError(f"No master key in {where}.")
        # Without a recorded pepper the oldest key listed is the first ever used.
        return cls(tuple(keys), pepper if pepper is not None else api_key_pepper_of(keys[-1]))

    def format(self) -> str:
        lines = [
            "# QuantumLock master keys (base64). The first is current; the others only open",
            "# older blobs until `quantumlock master-key retire` drops them.",
            *(base64.b64encode(k).decode() for k in self.keys),
            "# The API-key pepper (API keys cannot be re-hashed); it opens no sealed blob.",
            PEPPER_PREFIX + " " + base64.b64encode(self.api_key_pepper).decode(),
        ]
        return "\n".join(lines) + "\n"


class KeyringFile:
    """The data dir's master key file: read, changed-stamp, atomic 0600 write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def read(self) -> Keyring:
        return Keyring.parse(self.path.read_text(), str(self.path))

    def write(self, keyring: Keyring) -> None:
        """Write a temporary file (0600), fsync, rename over: readers see old or new."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(keyring.format())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class _Ring:
    current: bytes  # key id
    keks: dict[bytes, AESGCM]  # key id -> KEK, in keyring order


def _ring(keys: Sequence[bytes]) -> _Ring:
    if not keys:
        raise KeyringError("A keyring needs at least one master key.")
    keks = {
        key_id(k): AESGCM(_derive(k, b"quantumlock/sealing-kek/v1")) for k in keys
    }  # dict keeps order
    return _Ring(key_id(keys[0]), keks)


class Sealer:
    def __init__(
        self, master_key: bytes | Sequence[bytes], *, source: KeyringFile | None = None
    ) -> None:
        keys = [master_key] if isinstance(master_key, bytes) else list(master_key)
        self._ring = _ring(keys)
        self._source = source
        self._stamp = source.stamp() if source is not None else None
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    # -- keyring -----------------------------------------------------------------------

    @property
    def current_key_id(self) -> str:
        return self._ring.current.hex()

    @property
    def key_ids(self) -> list[str]:
        return [kid.hex() for kid in self._ring.keks]

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the keyring file if it changed (at most once a second unless forced).

        True if the ring changed. A file that cannot be read or parsed leaves the ring as
        it is: a node keeps serving with the keys it has.
        """
        if self._source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL:
            return False
        with self._lock:
            self._checked = now
            stamp = self._source.stamp()
            if stamp is None or stamp == self._stamp:
                return False
            try:
                keyring = self._source.read()
            except (OSError, SealingError):
                return False
            self._stamp = stamp
            self._ring = _ring(keyring.keys)
            return True

    # -- sealing -----------------------------------------------------------------------

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        self.refresh()
        ring = self._ring
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, VERSION + aad)
        return self._wrap(ring, data_key, aad) + nonce + ciphertext

    def open(self, blob: bytes, aad: bytes) -> bytes:
        data_key, nonce, ciphertext = self._unwrap(blob, aad)
        try:
            return AESGCM(data_key).decrypt(nonce, ciphertext, VERSION + aad)
        except InvalidTag:
            raise SealingError("sealed blob does not open under this master key") from None

    def rewrap(self, blob: bytes, aad: bytes) -> bytes:
        """The same data under a data key wrapped by the current master key.

        Only the 32-byte data key is re-encrypted; the data's nonce and ciphertext are kept
        (and checked to open first, so a damaged blob is never rewritten as if sound). A
        blob already under the current key is returned unchanged.
        """
        data_key, nonce, ciphertext = self._unwrap(blob, aad)
        try:
            AESGCM(data_key).decrypt(nonce, ciphertext, VERSION + aad)
        except InvalidTag:
            raise SealingError("sealed blob does not open under this master key") from None
        ring = self._ring
        if self.key_id_of(blob) == ring.current.hex():
            return blob
        return self._wrap(ring, data_key, aad) + nonce + ciphertext

    @staticmethod
    def key_id_of(blob: bytes) -> str | None:
        """The hex id of the master key a v2 blob is wrapped with; None for v1 blobs."""
        if blob[:1] == VERSION_2 and len(blob) >= _MIN_V2:
            return blob[1 : 1 + KEY_ID_LEN].hex()
        return None

    # -- the wrap layer ----------------------------------------------------------------

    @staticmethod
    def _wrap(ring: _Ring, data_key: bytes, aad: bytes) -> bytes:
        header = VERSION_2 + ring.current
        wrap_nonce = os.urandom(_NONCE)
        wrapped = ring.keks[ring.current].encrypt(wrap_nonce, data_key, header + aad)
        return header + wrap_nonce + wrapped

    def _unwrap(self, blob: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
        if blob[:1] == VERSION_2 and len(blob) >= _MIN_V2:
            kid = blob[1 : 1 + KEY_ID_LEN]
            body = blob[1 + KEY_ID_LEN :]
            kek = self._ring.keks.get(kid)
            if kek is None and self.refresh(force=True):  # a key made by another process
                kek = self._ring.keks.get(kid)
            if kek is None:
                raise SealingError(f"sealed blob needs master key {kid.hex()}, not in the keyring")
            keks = [kek]
            wrap_aad = VERSION_2 + kid + aad
        elif blob[:1] == VERSION and len(blob) >= _MIN_V1:
            body = blob[1:]
            keks = list(self._ring.keks.values())
            wrap_aad = VERSION + aad
        else:
            raise SealingError("unknown or truncated sealed blob")
        wrap_nonce, wrapped = body[:_NONCE], body[_NONCE : _NONCE + _WRAPPED]
        rest = body[_NONCE + _WRAPPED :]
        for kek in keks:
            try:
                data_key = kek.decrypt(wrap_nonce, wrapped, wrap_aad)
            except InvalidTag:
                continue
            return data_key, rest[:_NONCE], rest[_NONCE:]
        raise SealingError("sealed blob does not open under this master key")
