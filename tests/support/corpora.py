"""The real-world messages in ../shared/corpora (or $MAIL_CORPORA), one by one."""

import csv
import os
import re
from functools import cache
from pathlib import Path

import pytest

CORPORA = Path(
    os.environ.get("MAIL_CORPORA")
    or Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
)
MISSING = "corpora-missing"


def corpora() -> Path:
    """The corpora directory; a missing one fails the test (CI has it), it never skips."""
    if not (CORPORA / "CATALOG.tsv").is_file():
        pytest.fail(
            f"The mail corpora are missing: no CATALOG.tsv in {CORPORA}. Check out the shared "
            "corpora next to the repository (../shared/corpora) or point MAIL_CORPORA at them."
        )
    return CORPORA


@cache
def catalog() -> tuple[dict, ...]:
    with open(corpora() / "CATALOG.tsv", newline="", encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle, delimiter="\t"))


def corpus_names() -> list[str]:
    if not (CORPORA / "CATALOG.tsv").is_file():
        return [MISSING]  # collected anyway, so that the test fails with the message above
    return sorted({row["corpus"] for row in catalog()})


def split_mbox(data: bytes) -> list[bytes]:
    """mbox members as CATALOG.tsv counts them: a new member at every line starting "From "."""
    starts = [match.start() for match in re.finditer(rb"^From ", data, re.MULTILINE)]
    members = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        chunk = data[start:end]
        newline = chunk.find(b"\n")
        members.append(chunk[newline + 1 :] if newline >= 0 else b"")
    return members


def corpus_messages(corpus: str):
    """(path, raw bytes, catalog row) for every CATALOG.tsv row of a corpus.

    A path is a file, or "<mbox file>#<n>" for the n-th member of an mbox (file names may
    contain "#" themselves, as in simple-java-mail's "#298 ...msg").
    """
    root = corpora() / corpus
    mboxes: dict[str, list[bytes]] = {}
    for row in catalog():
        if row["corpus"] != corpus:
            continue
        path = row["path"]
        if (root / path).is_file():
            yield path, (root / path).read_bytes(), row
            continue
        mbox, _, index = path.rpartition("#")
        if mbox not in mboxes:
            mboxes[mbox] = split_mbox((root / mbox).read_bytes())
        yield path, mboxes[mbox][int(index)], row


def corpus_file(relative: str) -> bytes:
    return (corpora() / relative).read_bytes()


def all_corpus_messages():
    """(name, raw bytes) for every CATALOG.tsv row of every corpus."""
    for corpus in corpus_names():
        for path, raw, _row in corpus_messages(corpus):
            yield f"{corpus}/{path}", raw
