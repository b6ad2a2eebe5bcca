"""Normalising the email addresses, web domains and phone numbers kept on CRM records.

Pure functions: the same normal form is used when storing an address and when looking one up, so
that a set of addresses finds every record with one indexed `address__in` query.
"""

import contextlib
import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SPLIT_RE = re.compile(r"[\s,;]+")


def normalize_email(value: str) -> str:
    """Lower-case and trim an address; raise ValidationError if it is not one.

    Local parts are case-sensitive by the letter of RFC 5321, but no provider a sales team deals
    with treats them so, and matching `Bob@Acme.com` to `bob@acme.com` is what reps expect.
    """
    address = (value or "").strip().strip("<>").strip().lower()
    if address.startswith("mailto:"):
        address = address[len("mailto:") :]
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid email address."), params={"value": value.strip()}
        ) from None
    return address


def normalize_domain(value: str) -> str:
    """Reduce `https://www.Acme.com/about` to `acme.com`; raise ValidationError if not a domain."""
    domain = (value or "").strip().lower()
    domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain)
    domain = domain.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].rstrip(".")
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    if domain.startswith("www."):
        domain = domain[4:]
    with contextlib.suppress(UnicodeError):  # left as typed; the pattern below rejects it
        domain = domain.encode("idna").decode("ascii")
    if not _DOMAIN_RE.match(domain):
        raise ValidationError(
            _("“%(value)s” is not a valid web domain."), params={"value": value.strip()}
        )
    return domain


def normalize_phone(value: str) -> str:
    """Keep a phone number readable but tidy: single spaces, no stray punctuation at the ends."""
    phone = " ".join((value or "").split()).strip(" ,;")
    if phone and not re.search(r"\d", phone):
        raise ValidationError(_("“%(value)s” is not a phone number."), params={"value": phone})
    if len(phone) > 40:
        raise ValidationError(_("A phone number can have at most 40 characters."))
    return phone


def split_values(text: str) -> list[str]:
    """Split a box of addresses or domains typed one per line, or separated by commas."""
    return [item for item in _SPLIT_RE.split(text or "") if item]


def split_lines(text: str) -> list[str]:
    """Split phone numbers, which may contain spaces, by line, comma or semicolon."""
    return [item.strip() for item in re.split(r"[\n,;]+", text or "") if item.strip()]
