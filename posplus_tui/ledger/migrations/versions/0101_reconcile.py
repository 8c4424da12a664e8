"""Reconcile and sync tables: event history, posting details, feed cursors, invoice index,
mismatches and the single-worker lock.

Revision ID: 0101_reconcile
Revises: 0001_initial
Create Date: 2026-11-25 19:10:43.268536
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0101_reconcile"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_index",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("job_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "customer_name_norm", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column("phone_digits", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("invoice_date", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("adjustment_to_id", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("modified_on", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("invoice_index", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_index_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_invoice_index_customer_norm", ["customer_name_norm"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_invoice_index_job_number"), ["job_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invoice_index_number"), ["number"], unique=False)
        batch_op.create_index("ix_invoice_index_phone", ["phone_digits"], unique=False)

    op.create_table(
        "reconcile_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("transaction_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invoice_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("retry_in", sa.Float(), nullable=True),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reconcile_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconcile_events_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reconcile_events_outbox_id"), ["outbox_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reconcile_events_time"), ["time"], unique=False)

    op.create_table(
        "reconcile_locks",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("acquired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "reconcile_mismatches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("invoice_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("st_payment_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("marker", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("expected_cents", sa.BigInteger(), nullable=True),
        sa.Column("actual_cents", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_reconcile_mismatches_key"),
    )
    with op.batch_alter_table("reconcile_mismatches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconcile_mismatches_detected_at"), ["detected_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reconcile_mismatches_invoice_id"), ["invoice_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reconcile_mismatches_kind"), ["kind"], unique=False)

    op.create_table(
        "reconcile_postings",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.BigInteger(), nullable=True),
        sa.Column("balance_before_cents", sa.BigInteger(), nullable=True),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=True),
        sa.Column("expected_delta_cents", sa.BigInteger(), nullable=True),
        sa.Column("invoice_total_cents", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
    with op.batch_alter_table("reconcile_postings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconcile_postings_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "sync_cursors",
        sa.Column("feed", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("feed"),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    with op.batch_alter_table("reconcile_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_postings_invoice_id"))

    op.drop_table("reconcile_postings")
    with op.batch_alter_table("reconcile_mismatches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_mismatches_kind"))
        batch_op.drop_index(batch_op.f("ix_reconcile_mismatches_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_reconcile_mismatches_detected_at"))

    op.drop_table("reconcile_mismatches")
    op.drop_table("reconcile_locks")
    with op.batch_alter_table("reconcile_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_events_time"))
        batch_op.drop_index(batch_op.f("ix_reconcile_events_outbox_id"))
        batch_op.drop_index(batch_op.f("ix_reconcile_events_kind"))

    op.drop_table("reconcile_events")
    with op.batch_alter_table("invoice_index", schema=None) as batch_op:
        batch_op.drop_index("ix_invoice_index_phone")
        batch_op.drop_index(batch_op.f("ix_invoice_index_number"))
        batch_op.drop_index(batch_op.f("ix_invoice_index_job_number"))
        batch_op.drop_index("ix_invoice_index_customer_norm")
        batch_op.drop_index(batch_op.f("ix_invoice_index_customer_id"))

    op.drop_table("invoice_index")
