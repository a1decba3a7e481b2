"""The sealed-column registry (quantumlock.keyring): every sealed column of the metadata
is registered by its domain, with the very AAD function its service seals under, and the
rotation refuses to run while a sealed column is missing from it."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

import quantumlock.db.models  # every domain's tables: what Alembic and the rotation see
import quantumlock.keyring.rewrap as rewrap
from quantumlock.crypto import exchange_service
from quantumlock.crypto import models as crypto_models
from quantumlock.crypto import service as crypto_service
from quantumlock.db.base import Base
from quantumlock.idempotency import models as idempotency_models
from quantumlock.idempotency import service as idempotency_service
from quantumlock.keyring import canary
from quantumlock.keyring.registry import (
    register_sealed,
    require_complete,
    sealed_columns,
    unregistered,
)
from quantumlock.keyring.sealing import KeyringError, Sealer
from quantumlock.licensing import models as licensing_models
from quantumlock.licensing import service as licensing_service

EXPECTED = {
    "account_secrets.sealed",
    "idempotency_records.sealed",
    "key_exchange_sessions.sealed",
    "master_key_canary.sealed",
    "oauth_signing_keys.sealed_private",
    "quantum_keys.sealed",
    "saml_connections.sealed_sp_private_key",
    "signing_keys.sealed_private",
    "users.sealed_totp_secret",
}


def test_every_sealed_column_of_the_metadata_is_registered() -> None:
    assert quantumlock.db.models.metadata is Base.metadata
    sealed_looking = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.name.startswith("sealed") and isinstance(column.type, LargeBinary)
    }
    assert sealed_looking == EXPECTED
    assert unregistered(Base.metadata) == []
    assert {col.name for col in require_complete(Base.metadata)} == EXPECTED
    # By name, whatever order the domains happened to be imported in.
    assert [col.name for col in sealed_columns()] == sorted(EXPECTED)


def test_each_column_is_registered_with_the_aad_its_service_uses() -> None:
    cols = {col.name: col for col in sealed_columns()}
    # One definition per column: the service modules call these very functions.
    assert cols["account_secrets.sealed"].aad is licensing_models.account_secret_aad
    assert vars(licensing_service)["account_secret_aad"] is licensing_models.account_secret_aad
    assert cols["signing_keys.sealed_private"].aad is licensing_models.signing_key_aad
    assert vars(licensing_service)["signing_key_aad"] is licensing_models.signing_key_aad
    assert cols["quantum_keys.sealed"].aad is crypto_models.key_aad
    assert vars(crypto_service)["key_aad"] is crypto_models.key_aad
    assert cols["key_exchange_sessions.sealed"].aad is crypto_models.session_aad
    assert vars(exchange_service)["session_aad"] is crypto_models.session_aad
    assert cols["master_key_canary.sealed"].aad is canary.canary_aad
    assert cols["idempotency_records.sealed"].aad is idempotency_models.record_aad
    assert vars(idempotency_service)["record_aad"] is idempotency_models.record_aad

    # The values the rotation reads from a row give the AAD the service sealed under.
    assert cols["account_secrets.sealed"].aad_of(("cust_1", "license-hmac")) == (
        b"cust_1:license-hmac"
    )
    assert cols["signing_keys.sealed_private"].aad_of(("sk_1",)) == b"sk_1"
    assert cols["quantum_keys.sealed"].aad_of(("key_1", "cust_1", "test")) == (
        crypto_models.key_aad("key_1", "cust_1", "test")
    )
    assert [c.key for c in cols["quantum_keys.sealed"].aad_columns] == ["id", "account_id", "mode"]
    assert cols["master_key_canary.sealed"].aad_of((1,)) == canary.CANARY_AAD
    assert cols["idempotency_records.sealed"].aad_of(("cust_1", "live", "k-1")) == (
        idempotency_models.record_aad("cust_1", "live", "k-1")
    )
    # The pre-#16 AADs, for `init`'s one-time reseal, are the crypto domain's too.
    assert cols["quantum_keys.sealed"].legacy_aad is crypto_models.legacy_key_aad
    assert cols["key_exchange_sessions.sealed"].legacy_aad is crypto_models.legacy_session_aad
    assert cols["account_secrets.sealed"].legacy_aad is None


def test_a_column_cannot_be_registered_twice() -> None:
    before = sealed_columns()
    with pytest.raises(ValueError, match=r"account_secrets\.sealed"):
        register_sealed(
            licensing_models.AccountSecret.sealed,
            key=(licensing_models.AccountSecret.account_id,),
            aad=lambda _id: b"other",
        )
    assert sealed_columns() == before


class _RogueBase:
    """Stands in for the declarative base: a metadata with a sealed column nobody
    registered, as a new domain that forgot `register_sealed` would add."""

    metadata = MetaData()
    Table(
        "widget_secrets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("owner", String(32)),
        Column("sealed_value", LargeBinary),
    )


def test_rotation_refuses_while_a_sealed_column_is_unregistered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert unregistered(_RogueBase.metadata) == ["widget_secrets.sealed_value"]
    with pytest.raises(KeyringError, match=r"widget_secrets\.sealed_value"):
        require_complete(_RogueBase.metadata)

    def no_session() -> None:
        raise AssertionError("the rotation touched the database before refusing")

    monkeypatch.setattr(rewrap, "Base", _RogueBase)
    sealer = Sealer(secrets.token_bytes(32))
    for run in (
        lambda: rewrap.rewrap_all(no_session, sealer),  # type: ignore[arg-type]
        lambda: rewrap.count_by_key(no_session),  # type: ignore[arg-type]
        lambda: rewrap.verify_all(no_session, sealer),  # type: ignore[arg-type]
        lambda: rewrap.reseal_legacy(no_session, sealer),  # type: ignore[arg-type]
    ):
        with pytest.raises(KeyringError, match=r"widget_secrets\.sealed_value"):
            run()
