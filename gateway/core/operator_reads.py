"""What the operator console reads, as the core offers it.

The console is an adapter: it never imports the store. The read queries it needs (overview
counts, document search, parked deliveries) are the store's, offered here under one name,
with ``reading`` as the one way to open a read transaction on the node's engine.
"""

from __future__ import annotations

from gateway.store import overview as _overview
from gateway.store import repository as _repository
from gateway.store.database import transaction as reading
from gateway.store.models import DELIVERY_STATES

backlog = _overview.backlog
delivered_between = _overview.delivered_between
documents_between = _overview.documents_between
hourly = _overview.hourly
recipients_of = _overview.recipients_of
search_messages = _overview.search_messages
get_message = _repository.get_message
parked = _repository.parked

__all__ = [
    "DELIVERY_STATES",
    "backlog",
    "delivered_between",
    "documents_between",
    "get_message",
    "hourly",
    "parked",
    "reading",
    "recipients_of",
    "search_messages",
]
