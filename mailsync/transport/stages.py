"""The connection test runs in named stages and stops at the first failure."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailsync.errors import MailError

IMAP_STAGES = ["dns", "tcp", "tls", "imap_greeting", "imap_login", "folders"]
SMTP_STAGES = ["smtp_connect", "smtp_tls", "smtp_login"]


@dataclass
class StageResult:
    stage: str
    ok: bool
    code: str = ""
    detail: str = ""
    elapsed_ms: int = 0


def run_stages(steps: list[tuple[str, Callable[[], None]]]) -> Iterator[StageResult]:
    for name, step in steps:
        started = time.monotonic()
        try:
            step()
        except MailError as error:
            yield StageResult(name, False, error.code, error.server_words, _ms(started))
            return
        yield StageResult(name, True, elapsed_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
