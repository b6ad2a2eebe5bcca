"""The one pipeline every route feeds: parse, limits, store once per key, thread, ledger, link.

Routes (the IMAP sync, the inbound BCC address, the outbox) wrap what they receive in an
`Envelope` with its source and call `message_ingest`; nothing else stores mail.
"""

from mailsync.ingest.envelopes import Envelope, ImapSource, InboundSource, OutboxSource, Outcome
from mailsync.ingest.pipeline import DATABASE_UNAVAILABLE, message_ingest

__all__ = [
    "DATABASE_UNAVAILABLE",
    "Envelope",
    "ImapSource",
    "InboundSource",
    "Outcome",
    "OutboxSource",
    "message_ingest",
]
