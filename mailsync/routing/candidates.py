"""Writes on the candidates list: a rep adds an address from their own mail as a lead or a
contact. Its mail follows at once: the new address's signal links it (mailsync.signals)."""

from crm import services as crm
from crm.models import Contact, Lead, User, record_model
from crm.names import split_name
from mailsync.selectors.candidates import is_candidate

PERSON_KINDS = ("lead", "contact")


class NotACandidate(Exception):
    """The address is none of the rep's candidates: not in their own mail, already on a lead or
    contact they see, a teammate's, or a machine's."""


def candidate_promote(*, user: User, address: str, kind: str, name: str = "") -> Lead | Contact:
    """Add one of `user`'s candidates, `address` (normalised), as a lead or a contact (`kind`)
    that `user` owns, named after the address's display name in the mail (`name`).

    NotACandidate for an address that is not among `user`'s candidates: the list is the one
    thing that lets a rep make a record in one click, and only of their own mail.
    """
    if kind not in PERSON_KINDS:
        raise ValueError(f"A candidate becomes a lead or a contact, not a {kind!r}.")
    if not is_candidate(user=user, address=address):
        raise NotACandidate(address)
    model = record_model(kind)
    first, last = split_name(name)
    # A display name is as long as its sender likes: the record keeps what fits.
    record = model(
        first_name=first[: model._meta.get_field("first_name").max_length],
        last_name=last[: model._meta.get_field("last_name").max_length],
        owner=user,
    )
    return crm.person_save(record=record, actor=user, emails=[address])
