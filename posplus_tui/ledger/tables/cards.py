"""Cards on file: only the terminal's token, brand, last 4 and expiry — never a card number."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.ledger.tables._common import utcnow


class CardOnFile(SQLModel, table=True):
    __tablename__ = "cards_on_file"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=64, index=True)
    token: str = Field(max_length=128)
    brand: str = Field(default="", max_length=24)
    last4: str = Field(default="", max_length=4)
    expiry: str = Field(default="", max_length=4)  # MMYY
    saved_by: int | None = Field(default=None, foreign_key="operators.id")
    revoked: bool = Field(default=False)
    revoked_at: datetime | None = Field(default=None)
    revoked_by: int | None = Field(default=None, foreign_key="operators.id")
    created_at: datetime = Field(default_factory=utcnow)
