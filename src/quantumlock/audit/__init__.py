"""The account's audit trail: license lifecycle and API-key changes, read as one stream."""
