"""Idempotency keys: a creating or changing POST retried with the same key gets the first answer."""
