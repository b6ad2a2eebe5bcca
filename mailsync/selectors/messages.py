"""Reads of stored messages."""

import gzip
import logging

from mailsync.models import (
    Message,
)

log = logging.getLogger(__name__)


def raw_bytes(message: Message) -> bytes:
    return gzip.decompress(bytes(message.raw.data))
