"""Storage: engine and session factory, declarative base, migrations."""
