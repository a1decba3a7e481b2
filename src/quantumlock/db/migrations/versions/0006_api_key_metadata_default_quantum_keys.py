"""API key metadata; one default keystore key per account, mode and algorithm

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("metadata", sa.JSON(), server_default="{}", nullable=False))

    # Keys made by encrypt/sign without key_id before this revision stay ordinary keys: the
    # next such call makes the account's default.
    with op.batch_alter_table("quantum_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_for", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "uq_quantum_keys_default", ["account_id", "mode", "default_for"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("quantum_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_quantum_keys_default")
        batch_op.drop_column("default_for")

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("metadata")
