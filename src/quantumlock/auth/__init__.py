"""API-key identity (QCOS Core auth): keys, scopes, the key management API and /me."""
