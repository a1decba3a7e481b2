"""Load benchmarks for the QuantumLock server, measured against a bare FastAPI baseline."""
