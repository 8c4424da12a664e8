"""payment_links, link_cursors, link_events: payment links, the poller's cursor and claimed events.

Revision ID: 0301_payment_links
Revises: 0201_invoice_locks
Create Date: 2026-11-29 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0301_payment_links"
down_revision = "0201_invoice_locks"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", _S(length=16), nullable=False),
        sa.Column("provider", _S(length=16), nullable=False),
        sa.Column("provider_link_id", _S(length=64), nullable=False),
        sa.Column("url", _S(length=512), nullable=False),
        sa.Column("state", _S(length=24), nullable=False),
        sa.Column("kind", _S(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("invoice_id", _S(length=64), nullable=False),
        sa.Column("invoice_number", _S(length=64), nullable=False),
        sa.Column("job_number", _S(length=64), nullable=False),
        sa.Column("customer_id", _S(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("station", _S(length=40), nullable=False),
        sa.Column("channel", _S(length=8), nullable=False),
        sa.Column("recipient", _S(length=254), nullable=False),
        sa.Column("message_id", _S(length=255), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", _S(length=64), nullable=False),
        sa.Column("message", _S(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _T(), nullable=False),
        sa.Column("updated_at", _T(), nullable=False),
        sa.Column("sent_at", _T(), nullable=True),
        sa.Column("expires_at", _T(), nullable=True),
        sa.Column("closed_at", _T(), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"]),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_payment_links_provider_link_id", "payment_links", ["provider_link_id"])
    op.create_index("ix_payment_links_state", "payment_links", ["state"])
    op.create_index("ix_payment_links_invoice_id", "payment_links", ["invoice_id"])
    op.create_index("ix_payment_links_created_at", "payment_links", ["created_at"])
    op.create_table(
        "link_cursors",
        sa.Column("provider", _S(length=16), nullable=False),
        sa.Column("cursor", _S(length=255), nullable=False),
        sa.Column("updated_at", _T(), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    op.create_table(
        "link_events",
        sa.Column("event_id", _S(length=255), nullable=False),
        sa.Column("provider", _S(length=16), nullable=False),
        sa.Column("kind", _S(length=24), nullable=False),
        sa.Column("link_id", _S(length=64), nullable=False),
        sa.Column("station", _S(length=40), nullable=False),
        sa.Column("handled_at", _T(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("link_events")
    op.drop_table("link_cursors")
    op.drop_table("payment_links")
