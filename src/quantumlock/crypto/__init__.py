"""Cryptography: the tenant keystore, AEAD, signatures and key exchange."""
