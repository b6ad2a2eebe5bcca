"""Which records a message belongs to: pure decisions, no database.

The sync gathers what the decision needs (the records each address and domain points at, the
open deals of contacts and leads, what the thread already carries and what a rep removed from
it) with a fixed number of queries per batch, then asks `decide()` message by message.
"""

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

LEAD, CONTACT, COMPANY, DEAL = "lead", "contact", "company", "deal"

ADDRESS, DOMAIN, THREAD, ONLY_OPEN_DEAL, CHOSEN = "address", "domain", "thread", "deal", "chosen"


@dataclass(frozen=True, order=True)
class Ref:
    kind: str
    pk: int


@dataclass
class Directory:
    """What the database says about a batch's addresses (filled by services)."""

    by_address: dict[str, list[Ref]] = field(default_factory=dict)  # leads and contacts
    by_domain: dict[str, list[Ref]] = field(default_factory=dict)  # companies
    company_of: dict[Ref, int] = field(default_factory=dict)  # a contact's company
    open_deals_of: dict[Ref, list[int]] = field(default_factory=dict)  # contacts and leads
    ignored: frozenset[str] = frozenset()  # the rep's own and teammates' addresses


@dataclass
class ThreadState:
    """What the message's thread already carries."""

    deals: set[int] = field(default_factory=set)  # open deals linked to earlier messages
    chosen_deal: int | None = None  # a rep's choice among several open deals, while still open
    removed: set[Ref] = field(default_factory=set)  # records a rep took the thread off


@dataclass
class Decision:
    links: dict[Ref, str]  # record -> how (an origin)
    unmatched: list[str]  # addresses with no lead or contact: the candidates
    deal_choices: list[int]  # several open deals and nothing to choose by: ask the rep


@cache
def free_mail_domains() -> frozenset[str]:
    text = (Path(__file__).parent / "free_mail_domains.txt").read_text()
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def decide(addresses: list[str], directory: Directory, thread: ThreadState) -> Decision:
    """The records a message with these participants (normalised addresses) belongs to."""
    ignored_domains = {domain_of(a) for a in directory.ignored}
    links: dict[Ref, str] = {}
    unmatched: list[str] = []
    for address in dict.fromkeys(addresses):
        if not address or address in directory.ignored:
            continue
        people = directory.by_address.get(address, [])
        for ref in people:
            links.setdefault(ref, ADDRESS)
            company = directory.company_of.get(ref)
            if company:
                links.setdefault(Ref(COMPANY, company), ADDRESS)
        if not people:
            unmatched.append(address)
        domain = domain_of(address)
        if domain not in free_mail_domains() and domain not in ignored_domains:
            for ref in directory.by_domain.get(domain, []):
                links.setdefault(ref, DOMAIN)

    deal_choices: list[int] = []
    if thread.chosen_deal:
        links.setdefault(Ref(DEAL, thread.chosen_deal), CHOSEN)
    elif thread.deals:
        for deal in sorted(thread.deals):
            links.setdefault(Ref(DEAL, deal), THREAD)
    else:
        open_deals = sorted(
            {
                d
                for ref in links
                if ref.kind in (CONTACT, LEAD)
                for d in directory.open_deals_of.get(ref, [])
            }
        )
        if len(open_deals) == 1:
            links.setdefault(Ref(DEAL, open_deals[0]), ONLY_OPEN_DEAL)
        elif len(open_deals) > 1:
            deal_choices = [d for d in open_deals if Ref(DEAL, d) not in thread.removed]
            if len(deal_choices) == 1:
                links.setdefault(Ref(DEAL, deal_choices[0]), ONLY_OPEN_DEAL)
                deal_choices = []

    # A link a rep removed from the thread stays removed, however the new message matches.
    for ref in thread.removed:
        links.pop(ref, None)
    return Decision(links=links, unmatched=unmatched, deal_choices=deal_choices)


# Reply and forward prefixes: English, Italian (R:, RIF:, I: from Outlook), German, Nordic,
# French, Spanish, Dutch. "Re[2]:" and stacked prefixes count too.
_REPLY_PREFIX = re.compile(
    r"^\s*((re|r|fw|fwd|aw|wg|sv|vs|rif|i|tr|enc|antw|ref)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)


def is_reply(subject: str) -> bool:
    return bool(_REPLY_PREFIX.match(subject or ""))


def subject_key(subject: str) -> str:
    """A subject without reply/forward prefixes, spaces collapsed, lower-case: how a reply
    from a client that drops In-Reply-To and References still finds its thread."""
    return " ".join(_REPLY_PREFIX.sub("", subject or "").split()).lower()[:255]
