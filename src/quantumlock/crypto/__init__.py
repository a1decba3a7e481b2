"""Cryptography: envelope sealing under the master key (and, later, the tenant keystore)."""
