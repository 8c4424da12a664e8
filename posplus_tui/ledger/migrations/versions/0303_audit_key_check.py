"""audit_head.key_check: which key signs the chain, read with the head by every append.

A station compares it with its own key's check value under the head's lock, at no extra
statement, and refuses to append unsigned or with another key (the ``audit_signed`` event in the
chain is the authenticated record; this column is the cheap guard).

Revision ID: 0303_audit_key_check
Revises: 0302_invoice_search
Create Date: 2026-11-29 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0303_audit_key_check"
down_revision = "0302_invoice_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(
            sa.Column(
                "key_check",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("key_check")
