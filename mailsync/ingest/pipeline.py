"""The one way mail enters the CRM, whatever route brought it (sync, inbound address, outbox)."""

import logging

from django.db import InterfaceError, OperationalError, transaction

from mailsync.ingest.envelopes import Envelope, Outcome, source_columns
from mailsync.ingest.store import ingest_batch, unparseable_store
from mailsync.models import MailAccount, Sighting, SkipEntry

log = logging.getLogger(__name__)

# The database itself failing: a lost connection, a restart, a lock or statement timeout, a
# deadlock or serialization failure (psycopg's TransactionRollbackError is an OperationalError,
# and so is SQLite's "database is locked"). None of these says anything about the message, so
# the batch is abandoned as a whole and raised to the route, which retries it later: the sync
# leaves the folder's position where it was. A value the database refuses for one message
# (DataError, IntegrityError, psycopg's ValueError for a NUL character) is that message's fault.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def message_ingest(*, account: MailAccount, envelopes: list[Envelope]) -> list[Outcome]:
    """Parse, apply the limits, store once per message key, record the sighting, thread, write
    the ledger, then link. One Outcome per envelope, in order.

    The batch is stored with a fixed number of queries. Should it fail as a whole, its messages
    are stored one by one instead, so that one bad message costs only itself; that message is
    kept raw and recorded as `unparseable` with the reason. Raises DATABASE_UNAVAILABLE errors:
    nothing of the batch is stored then, and the caller must try it again later.
    """
    if not envelopes:
        return []
    try:
        with transaction.atomic():
            return ingest_batch(account, envelopes)
    except DATABASE_UNAVAILABLE:
        raise
    except Exception:  # noqa: BLE001 - fall back to the careful path, never stop the route
        log.exception("storing a batch of %s messages failed: storing them one by one", account)
        return [_ingest_one(account, envelope) for envelope in envelopes]


def _ingest_one(account: MailAccount, envelope: Envelope) -> Outcome:
    """One message, the careful way. Whatever cannot be stored is kept raw with its reason."""
    try:
        with transaction.atomic():
            return ingest_batch(account, [envelope])[0]
    except DATABASE_UNAVAILABLE:
        raise
    except Exception as error:  # noqa: BLE001 - one bad message must never stop the route
        log.exception("storing a message from %s failed", envelope.source)
        reason = f"{type(error).__name__}: {error}"
        source = source_columns(envelope.source)
        with transaction.atomic():
            message = unparseable_store(envelope.raw, reason)
            Sighting.objects.get_or_create(message=message, account=account, **source)
            SkipEntry.objects.bulk_create(
                [
                    SkipEntry.entry(
                        account=account,
                        code="unparseable",
                        detail=message.parse_error,
                        message=message,
                        **source,
                    )
                ],
                ignore_conflicts=True,  # already in the ledger from an earlier, interrupted run
            )
        return Outcome(envelope, "unparseable", message.pk)
