"""The audit log: append-only, each event carrying the hash of the one before it.

``audit_head`` is a single row holding the last sequence number and hash. Appending updates it
first, which takes a row lock on PostgreSQL (and the write lock on SQLite), so concurrent stations
append one after another and the chain never forks.
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: str = Field(max_length=32)  # ISO 8601 UTC; text so the hash is the same on every database
    actor: str = Field(default="", max_length=80)
    station: str = Field(default="", max_length=40)
    action: str = Field(max_length=40, index=True)
    subject: str = Field(default="", max_length=80)
    details: str = Field(default="{}")  # canonical JSON
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    hash: str = Field(max_length=64)
    #: The check value of the key that signs the chain ('' while unsigned): every append reads
    #: it with the head and refuses to sign with another key or none (see ledger/audit.py).
    key_check: str = Field(default="", max_length=16)
