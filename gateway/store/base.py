"""Declarative base shared by every table of the gateway's store."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Base class of all ORM tables; ``Base.metadata`` creates the whole schema."""
