"""Reconcile, issue 13a: the doubt record of a posting (attempt time, checks, reason), worker
heartbeats, and the tenant's shared API rate budget.

Revision ID: 0103_reconcile_doubt_budget
Revises: 0102_reconcile_lookup
Create Date: 2026-11-29 09:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0103_reconcile_doubt_budget"
down_revision = "0102_reconcile_lookup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reconcile_postings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attempted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("doubt_checks", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("doubt_reason", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "reconcile_workers",
        sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("beat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    op.create_table(
        "st_rate_budget",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("burst", sa.Float(), nullable=False),
        sa.Column("stamp", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("st_rate_budget")
    op.drop_table("reconcile_workers")
    with op.batch_alter_table("reconcile_postings", schema=None) as batch_op:
        batch_op.drop_column("doubt_reason")
        batch_op.drop_column("doubt_checks")
        batch_op.drop_column("attempted_at")
