"""SQLAlchemy 2 models and Alembic migrations."""

from models.base import Base, utcnow
from models.tables import Contact, Conversation, InboundMessage, OutboxMessage, Report

__all__ = ["Base", "Contact", "Conversation", "InboundMessage", "OutboxMessage", "Report", "utcnow"]
