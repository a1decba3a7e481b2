"""Rate limiting: the Limiter protocol and its backends."""

from quantumlock.ratelimit.base import Decision, Limiter, RateLimit
from quantumlock.ratelimit.memory import GcraLimiter

__all__ = ["Decision", "GcraLimiter", "Limiter", "RateLimit"]
