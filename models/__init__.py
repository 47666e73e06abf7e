"""SQLAlchemy 2 models and Alembic migrations."""

from models.base import Base, utcnow
from models.tables import (
    Contact,
    Conversation,
    InboundMessage,
    Incident,
    OutboxMessage,
    Recipient,
    Report,
    Timer,
)

__all__ = [
    "Base",
    "Contact",
    "Conversation",
    "InboundMessage",
    "Incident",
    "OutboxMessage",
    "Recipient",
    "Report",
    "Timer",
    "utcnow",
]
