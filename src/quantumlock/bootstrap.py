"""Objects built from Settings: the keyring, the sealer, the API-key hasher.

Settings stays pure data; whatever needs a domain or the keyring to build is made here,
once, by the runtime, the CLI and the tests alike.
"""

from __future__ import annotations

from quantumlock.keyring.hasher import KeyHasher
from quantumlock.keyring.sealing import Keyring, KeyringError, KeyringFile, Sealer, decode_key
from quantumlock.settings import Settings


class MasterKeyError(RuntimeError):
    pass


def keyring_file(settings: Settings) -> KeyringFile | None:
    """The master key file, unless QL_MASTER_KEY overrides it (then nothing to re-read)."""
    return None if settings.master_key is not None else KeyringFile(settings.master_key_path)


def load_keyring(settings: Settings) -> Keyring:
    """Master keys, current first: QL_MASTER_KEY (a comma list) or the data dir's file
    (one base64 key a line). With QL_MASTER_KEY, QL_API_KEY_PEPPER may give the API-key
    pepper; without it the pepper comes from the last key listed (the oldest)."""
    try:
        if settings.master_key is not None:
            text = settings.master_key.get_secret_value().replace(",", "\n")
            ring = Keyring.parse(text, "QL_MASTER_KEY")
            if settings.api_key_pepper is not None:
                pepper = decode_key(settings.api_key_pepper.get_secret_value(), "QL_API_KEY_PEPPER")
                ring = Keyring(ring.keys, pepper)
            return ring
        file = KeyringFile(settings.master_key_path)
        if not file.path.exists():
            raise MasterKeyError(
                f"No master key: set QL_MASTER_KEY or run `quantumlock init` "
                f"(expected {settings.master_key_path})."
            )
        return file.read()
    except KeyringError as exc:
        raise MasterKeyError(str(exc)) from None


def api_key_hasher(settings: Settings) -> KeyHasher:
    """The API-key hasher: its pepper does not follow master-key rotations (API keys
    exist only as HMACs); sealing uses the whole keyring (`make_sealer`)."""
    return KeyHasher.from_pepper(load_keyring(settings).api_key_pepper)


def make_sealer(settings: Settings) -> Sealer:
    """A Sealer over the keyring that picks up a rotated key file without a restart."""
    return Sealer(load_keyring(settings).keys, source=keyring_file(settings))
