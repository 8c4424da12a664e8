"""Case-insensitive lookup of invoice and job numbers: indexes on lower(number), lower(job_number).

Revision ID: 0102_reconcile_lookup
Revises: 0101_reconcile
Create Date: 2026-11-25 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0102_reconcile_lookup"
down_revision = "0101_reconcile"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invoice_index_number_lower", "invoice_index", [sa.text("lower(number)")])
    op.create_index(
        "ix_invoice_index_job_number_lower", "invoice_index", [sa.text("lower(job_number)")]
    )


def downgrade() -> None:
    op.drop_index("ix_invoice_index_job_number_lower", table_name="invoice_index")
    op.drop_index("ix_invoice_index_number_lower", table_name="invoice_index")
