"""What every route hands the pipeline: the raw message and where it came from.

A route is a thin shell: the sync reads an IMAP folder, the BCC address receives mail from an ESP's
webhook or a pipe, sending records what the CRM sent. Each wraps the bytes in an `Envelope` whose
`source` says where they came from; the pipeline records that source on the message's sighting
and on its ledger entry, so that "where is this email from?" always has an answer.
"""

from dataclasses import dataclass

from mailsync.models import MailFolder, Source


@dataclass(frozen=True)
class ImapSource:
    """A message in an IMAP folder, at a UID under a UIDVALIDITY (RFC 3501 2.3.1.1)."""

    folder: MailFolder
    uidvalidity: int
    uid: int

    kind = Source.IMAP

    def fields(self) -> dict:
        return {
            "source": self.kind,
            "folder_id": self.folder.pk,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
        }

    def place(self) -> tuple:
        return (self.kind, self.folder.pk, self.uidvalidity, self.uid)


@dataclass(frozen=True)
class InboundSource:
    """A message delivered to a rep's inbound (BCC) address: `address` is the address it was
    sent to, `route` how it reached us ("anymail:mailgun", "pipe"), `route_message_id` the ESP's
    own id of the message (empty when the route has none: then every delivery is a new one)."""

    address: str
    route: str
    route_message_id: str = ""

    kind = Source.INBOUND

    def fields(self) -> dict:
        return {
            "source": self.kind,
            "inbound_address": self.address[:254],
            "inbound_route": self.route[:40],
            "route_message_id": self.route_message_id[:255],
        }

    def place(self) -> tuple | None:
        if not self.route_message_id:
            return None
        return (self.kind, self.route[:40], self.route_message_id[:255])


@dataclass(frozen=True)
class OutboxSource:
    """A message the CRM sent: `outgoing_id` is the outgoing message's key."""

    outgoing_id: int

    kind = Source.OUTBOX

    def fields(self) -> dict:
        return {"source": self.kind, "outgoing_id": self.outgoing_id}

    def place(self) -> tuple:
        return (self.kind, self.outgoing_id)


EnvelopeSource = ImapSource | InboundSource | OutboxSource

# Every field a source may set, so that rows of any route are written with the same columns.
SOURCE_COLUMNS = (
    "source",
    "folder_id",
    "uidvalidity",
    "uid",
    "inbound_address",
    "inbound_route",
    "route_message_id",
    "outgoing_id",
)
_EMPTY = {
    "folder_id": None,
    "uidvalidity": None,
    "uid": None,
    "inbound_address": "",
    "inbound_route": "",
    "route_message_id": "",
    "outgoing_id": None,
}


def source_columns(source: EnvelopeSource) -> dict:
    """All of SOURCE_COLUMNS for `source`, in that order: its own fields, the others empty."""
    own = source.fields()
    return {name: own.get(name, _EMPTY.get(name)) for name in SOURCE_COLUMNS}


@dataclass(frozen=True)
class Envelope:
    """Raw RFC 822 bytes and where they came from. `headers_only` says the route kept only the
    header block (the IMAP sync does for a message over MAILSYNC_MAX_MESSAGE_BYTES); `size` is
    then the message's real size, which `raw` is not."""

    raw: bytes
    source: EnvelopeSource
    headers_only: bool = False
    size: int | None = None

    @property
    def real_size(self) -> int:
        return self.size if self.size is not None else len(self.raw)


@dataclass(frozen=True)
class Outcome:
    """What the pipeline did with one envelope: `code` is "imported", "duplicate", "blocked" or
    a skip code of the catalogue; `message_pk` the stored message (None for blocked mail, which
    is not stored)."""

    envelope: Envelope
    code: str
    message_pk: int | None = None
