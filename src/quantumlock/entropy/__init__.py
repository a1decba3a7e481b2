"""Entropy: sources, SP 800-90B health tests, conditioning, /api/v1/quantum/health|entropy."""
