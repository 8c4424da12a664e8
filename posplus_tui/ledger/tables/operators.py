"""People who use the till. The PIN is kept only as a slow-KDF hash (see services/operators)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.ledger.tables._common import utcnow


class Operator(SQLModel, table=True):
    __tablename__ = "operators"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    role: str = Field(max_length=16)  # clerk | supervisor | technician | admin
    #: The ServiceTitan username exactly as typed (no trimming, no case folding).
    st_username: str = Field(default="", max_length=120)
    pin_hash: str = Field(max_length=255)
    failed_attempts: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
