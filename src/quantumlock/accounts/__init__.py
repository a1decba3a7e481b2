"""Accounts (the vendors using the service) and their plans."""
