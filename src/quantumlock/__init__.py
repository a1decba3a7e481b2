"""QuantumLock: API-key identity, licensing and quantum-seeded cryptography."""

__version__ = "0.1.0"
