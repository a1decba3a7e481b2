"""The sealing keyring: v2 blobs name their key, v1 blobs still open, rewrap touches only
the wrapped data key, and a running Sealer learns a rotated key file without a restart."""

from __future__ import annotations

import base64
import os
import secrets
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from quantumlock.bootstrap import (
    MasterKeyError,
    api_key_hasher,
    keyring_file,
    load_keyring,
    make_sealer,
)
from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import (
    RELOAD_INTERVAL,
    Keyring,
    KeyringError,
    KeyringFile,
    Sealer,
    SealingError,
    api_key_pepper_of,
    key_id,
)
from quantumlock.settings import Settings

AAD = b"account_1:hmac"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v1_blob(master: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """A blob in the original v1 format, built here from its definition with pyca."""
    kek = HKDF(hashes.SHA256(), 32, salt=None, info=b"quantumlock/sealing-kek/v1").derive(master)
    data_key, wrap_nonce, nonce = os.urandom(32), os.urandom(12), os.urandom(12)
    wrapped = AESGCM(kek).encrypt(wrap_nonce, data_key, b"\x01" + aad)
    return (
        b"\x01"
        + wrap_nonce
        + wrapped
        + nonce
        + AESGCM(data_key).encrypt(nonce, plaintext, b"\x01" + aad)
    )


def test_v2_blob_names_its_key_and_binds_the_aad() -> None:
    master = secrets.token_bytes(32)
    sealer = Sealer(master)
    blob = sealer.seal(b"secret", AAD)
    assert blob[:1] == b"\x02" and blob[1:9] == key_id(master)
    assert Sealer.key_id_of(blob) == key_id(master).hex() == sealer.current_key_id
    assert master not in blob and b"secret" not in blob
    assert sealer.open(blob, AAD) == b"secret"
    with pytest.raises(SealingError):
        sealer.open(blob, b"account_2:hmac")
    for i in (1, 10, 30, len(blob) - 1):  # the key id, the wrap, the data: any bit flip
        tampered = blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1 :]
        with pytest.raises(SealingError):
            sealer.open(tampered, AAD)
    with pytest.raises(SealingError):
        sealer.open(blob[:20], AAD)
    # Under another master key it names a key that sealer does not have.
    with pytest.raises(SealingError, match="not in the keyring"):
        Sealer(secrets.token_bytes(32)).open(blob, AAD)


def test_key_ids_differ_and_do_not_reveal_the_key() -> None:
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    assert key_id(a) != key_id(b) and len(key_id(a)) == 8
    assert key_id(a) not in a and key_id(a) == key_id(bytes(a))


def test_v1_blobs_open_with_any_key_in_the_ring() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    blob = v1_blob(old, b"legacy", AAD)
    assert Sealer(old).open(blob, AAD) == b"legacy"
    assert Sealer([new, old]).open(blob, AAD) == b"legacy"
    with pytest.raises(SealingError):
        Sealer(new).open(blob, AAD)
    with pytest.raises(SealingError):
        Sealer([new, old]).open(blob, b"other")


def test_rewrap_changes_only_the_wrapped_data_key() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    blob = Sealer(old).seal(b"payload" * 10, AAD)
    ring = Sealer([new, old])
    rewrapped = ring.rewrap(blob, AAD)
    assert Sealer.key_id_of(rewrapped) == key_id(new).hex()
    # Header 1 + 8, wrap nonce 12, wrapped key 48: the data nonce and ciphertext are kept.
    assert rewrapped[69:] == blob[69:] and rewrapped[:69] != blob[:69]
    assert Sealer(new).open(rewrapped, AAD) == b"payload" * 10  # the new key alone
    with pytest.raises(SealingError):
        Sealer(old).open(rewrapped, AAD)
    assert ring.rewrap(rewrapped, AAD) is rewrapped  # already current: unchanged
    # v1 blobs become v2 under the current key.
    legacy = v1_blob(old, b"legacy", AAD)
    up = ring.rewrap(legacy, AAD)
    assert up[:1] == b"\x02" and Sealer(new).open(up, AAD) == b"legacy"
    # A damaged blob is refused, not rewritten.
    with pytest.raises(SealingError):
        ring.rewrap(blob[:-1] + bytes([blob[-1] ^ 1]), AAD)
    with pytest.raises(SealingError):
        ring.rewrap(blob, b"wrong aad")


def test_keyring_text_roundtrip_and_errors(tmp_path: Path) -> None:
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    one = Keyring.parse(b64(a) + "\n", "f")
    assert one.keys == (a,) and one.api_key_pepper == api_key_pepper_of(a)
    ring = Keyring((b, a), api_key_pepper_of(a))
    assert Keyring.parse(ring.format(), "f") == ring
    # Without a recorded pepper, the oldest (last) key gives it.
    assert Keyring.parse(f"{b64(b)}\n{b64(a)}\n", "f").api_key_pepper == api_key_pepper_of(a)
    # A retired first key leaves the file: only its pepper stays, and it is not the key.
    retired = Keyring((b,), api_key_pepper_of(a)).format()
    assert b64(a) not in retired and b64(api_key_pepper_of(a)) in retired
    assert Keyring.parse(retired, "f").keys == (b,)
    for bad in ("", "# only a comment\n", "not base64!\n", b64(bytes(31)) + "\n"):
        with pytest.raises(KeyringError):
            Keyring.parse(bad, "f")

    file = KeyringFile(tmp_path / "master.key")
    file.write(ring)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    assert file.read() == ring
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary left


def test_settings_keyring_from_env_and_file(tmp_path: Path) -> None:
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    env = Settings(data_dir=tmp_path, master_key=f"{b64(b)},{b64(a)}")
    assert load_keyring(env).keys == (b, a) and keyring_file(env) is None
    # API-key hashes keep the pepper of the oldest key: the same digests as before rotation.
    assert api_key_hasher(env).digest("k") == KeyHasher(a).digest("k")
    peppered = Settings(
        data_dir=tmp_path, master_key=b64(b), api_key_pepper=b64(api_key_pepper_of(a))
    )
    assert api_key_hasher(peppered).digest("k") == KeyHasher(a).digest("k")
    assert load_keyring(peppered).keys == (b,)
    with pytest.raises(MasterKeyError):
        load_keyring(Settings(data_dir=tmp_path, master_key="nope"))
    with pytest.raises(MasterKeyError, match="No master key"):
        load_keyring(Settings(data_dir=tmp_path))
    KeyringFile(tmp_path / "master.key").write(Keyring((b, a), api_key_pepper_of(a)))
    from_file = Settings(data_dir=tmp_path)
    assert load_keyring(from_file).keys == (b, a)
    assert api_key_hasher(from_file).digest("k") == KeyHasher(a).digest("k")
    sealer = make_sealer(from_file)
    assert sealer.current_key_id == key_id(b).hex()
    assert sealer.key_ids == [key_id(b).hex(), key_id(a).hex()]


def test_running_sealer_learns_a_rotated_key_file(tmp_path: Path) -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    file = KeyringFile(tmp_path / "master.key")
    file.write(Keyring((old,), old))
    node = Sealer(file.read().keys, source=file)
    before = node.seal(b"before", AAD)

    file.write(Keyring((new, old), old))  # what `keystore rotate-master` does
    rotated = Sealer([new, old])
    fresh = rotated.seal(b"after", AAD)
    # The node meets the new key id: it re-reads the file at once and opens the blob.
    assert node.open(fresh, AAD) == b"after"
    assert node.open(rotated.rewrap(before, AAD), AAD) == b"before"
    assert node.current_key_id == key_id(new).hex()
    assert Sealer.key_id_of(node.seal(b"x", AAD)) == key_id(new).hex()

    # When sealing, the node checks the file at most once a second.
    newer = secrets.token_bytes(32)
    file.write(Keyring((newer, new, old), old))
    time.sleep(RELOAD_INTERVAL + 0.05)
    assert Sealer.key_id_of(node.seal(b"y", AAD)) == key_id(newer).hex()

    # A broken file leaves the node with the keys it has.
    (tmp_path / "master.key").write_text("garbage\n")
    assert not node.refresh(force=True)
    assert node.open(fresh, AAD) == b"after"
