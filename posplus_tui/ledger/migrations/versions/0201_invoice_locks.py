"""invoice_locks: the per-invoice row that serialises charge reservations across stations.

Revision ID: 0201_invoice_locks
Revises: 0103_reconcile_doubt_budget
Create Date: 2026-11-29 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0201_invoice_locks"
down_revision = "0103_reconcile_doubt_budget"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_locks",
        sa.Column("invoice_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id"),
    )


def downgrade() -> None:
    op.drop_table("invoice_locks")
