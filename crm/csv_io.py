"""CSV import and export of leads, contacts, companies and deals.

Import (`import_csv`) reads the files other CRMs and spreadsheets produce:

* Encoding: UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark (Excel's
  "Unicode text"), otherwise Windows-1252 / Latin-1 (Excel's "CSV" on Windows).
* Delimiter: comma, semicolon (Italian Excel), tab or `|`, whichever makes the header row
  recognisable.
* Header: the first row. Names are compared ignoring case, spaces, `_`, `-` and punctuation, so
  "First Name", "first_name", "FIRSTNAME" and "first-name" are the same column. `ALIASES` lists
  the names accepted for each column; a column prefixed with the kind, as Pipedrive writes them
  ("Deal - Title", "Person - Email", "Organization - Name"), is matched too. Unknown columns are
  ignored and listed in the result.
* Rows: each row is imported in its own savepoint, so a bad row changes nothing and the good
  rows are imported; every bad row is reported with its line number in the file (the header is
  line 1; a quoted value spanning several lines counts all of them).
* An empty cell never clears anything: it leaves the existing value alone.
* Re-importing a file never duplicates anything (see `_find_*` for how records are matched);
  e-mail addresses, phone numbers, web domains and a deal's contacts are merged, never dropped.
* Dates (deals' expected close): `YYYY-MM-DD` (a time after it is ignored), `YYYY/MM/DD`,
  `DD.MM.YYYY`, and `DD/MM/YYYY` or `MM/DD/YYYY` (also with `-`, and two-digit years meaning
  20YY). Which of the last two a file uses is worked out from its dates: a day above 12
  settles it. When no date in the file settles it, a semicolon-separated file is read as
  DD/MM/YYYY (European Excel) and an ambiguous date in any other file is reported as an error.
* Amounts: `1234.50`, `1,234.50`, `1.234,50`, `1 234,50`, `€ 1.500`, `1500 EUR`; a single
  separator followed by exactly three digits is a thousands separator.

Export (`export_csv`) writes the columns of `EXPORT_COLUMNS`, which import reads back unchanged.
"""

from __future__ import annotations

import csv
import datetime
import email.utils
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import services
from crm.addresses import normalize_domain, normalize_email, normalize_phone, split_lines
from crm.models import (
    RECORD_MODELS,
    RECORD_PLURALS,
    Company,
    CompanyDomain,
    Contact,
    Deal,
    EmailAddress,
    Lead,
    Stage,
    User,
)
from crm.names import split_name
from crm.selectors import records_for_user, stages_active, users_assignable_by

# A file holds one kind of record, named in the plural as CsvJob.kind and the URLs name it.
KINDS = tuple(RECORD_PLURALS.values())
MODELS = {RECORD_PLURALS[kind]: model for kind, model in RECORD_MODELS.items()}

# ---------------------------------------------------------------------------------------------
# Columns

# Header names accepted for each column, besides the column's own name; `|` separates them.
_PERSON = {
    "first_name": "first name|firstname|given name|first|forename|nome",
    "last_name": "last name|lastname|surname|family name|last|cognome",
    "full_name": (
        "name|full name|contact name|person name|display name|nome completo|nome e cognome"
    ),
    "email": (
        "e-mail|email address|e-mail address|primary email|work email|mail|email 1|"
        "e-mail 1 - value|indirizzo email|posta elettronica"
    ),
    "additional_emails": (
        "additional emails|additional email|additional email addresses|other emails|other email|"
        "secondary email|email 2|email 3|e-mail 2 address|e-mail 3 address|e-mail 2 - value|"
        "e-mail 3 - value|personal email|home email|emails|altre email"
    ),
    "phone": (
        "phones|phone number|mobile|mobile phone|work phone|business phone|home phone|other phone|"
        "primary phone|telephone|tel|cell|cell phone|phone 1 - value|phone 2 - value|"
        "phone 3 - value|telefono|cellulare"
    ),
    "company": (
        "company name|organization|organisation|organization name|organisation name|"
        "organization 1 - name|account name|account|azienda|società"
    ),
    "title": "job title|position|job position|role|organization 1 - title|ruolo|qualifica",
    "description": "notes|note|comments|about|descrizione",
    "owner_email": (
        "owner|owner email|contact owner|lead owner|record owner|assigned to|proprietario"
    ),
}

_COMPANY = {
    "name": (
        "company name|company|organization|organisation|organization name|account name|account|"
        "azienda|ragione sociale|società"
    ),
    "domains": (
        "domain|website|websites|web site|web domain|domain name|company domain name|website url|"
        "url|homepage|sito|sito web|dominio"
    ),
    "phone": "phone number|telephone|company phone|telefono",
    "industry": "industry type|sector|settore",
    "address": "street address|street|billing address|indirizzo",
    "postal_code": "postal code|postcode|zip|zip code|cap",
    "city": "town|città|comune",
    "state": "state/region|region|province|county|provincia|regione",
    "country": "country/region|nation|paese|nazione",
    "description": "notes|about|descrizione",
    "owner_email": (
        "owner|owner email|company owner|account owner|record owner|assigned to|proprietario"
    ),
}

_DEAL = {
    "name": (
        "deal name|title|deal|deal title|opportunity|opportunity name|trattativa|nome trattativa|"
        "opportunità"
    ),
    "value": "amount|deal value|deal amount|valore|importo",
    "currency": "currency code|deal currency|valuta",
    "stage": "pipeline stage|deal stage|fase",
    "status": "deal status|stato",
    "expected_close": (
        "expected close|expected close date|close date|closing date|expected closing date|"
        "data chiusura|chiusura prevista"
    ),
    "company": (
        "company name|organization|organisation|organization name|account|account name|azienda"
    ),
    "contact_emails": "contact email|contact emails|contacts|contact|contatti",
    "lost_reason": "lost reason|reason lost|loss reason|motivo perdita",
    "owner_email": "owner|owner email|deal owner|record owner|assigned to|proprietario",
}

ALIASES: dict[str, dict[str, str]] = {
    "contacts": _PERSON,
    "leads": {
        **_PERSON,
        "status": "lead status|stato",
        "source": "lead source|original source|origin|fonte|origine",
    },
    "companies": _COMPANY,
    "deals": _DEAL,
}

# Pipedrive and others prefix columns with the kind of record: "Deal - Title".
_PREFIXES = {
    "contacts": ["person", "contact"],
    "leads": ["lead", "person"],
    "companies": ["organization", "organisation", "company", "account"],
    "deals": ["deal", "opportunity"],
}

# The columns at least one of which a file must have, to tell what record a row is about.
_IDENTIFYING = {
    "contacts": ("first_name", "last_name", "full_name", "email", "additional_emails"),
    "leads": ("first_name", "last_name", "full_name", "email", "additional_emails", "company"),
    "companies": ("name", "domains"),
    "deals": ("name",),
}

EXPORT_COLUMNS = {
    "contacts": [
        "first_name",
        "last_name",
        "email",
        "additional_emails",
        "phone",
        "company",
        "title",
        "owner_email",
        "description",
    ],
    "leads": [
        "first_name",
        "last_name",
        "email",
        "additional_emails",
        "phone",
        "company",
        "title",
        "status",
        "source",
        "owner_email",
        "description",
    ],
    "companies": ["name", "domains", "phone", "industry", "address", "owner_email", "description"],
    "deals": [
        "name",
        "value",
        "currency",
        "stage",
        "status",
        "expected_close",
        "company",
        "contact_emails",
        "lost_reason",
        "owner_email",
    ],
}

# What the import page says about each column.
COLUMN_HELP = {
    "first_name": gettext_lazy("First name."),
    "last_name": gettext_lazy("Last name."),
    "full_name": gettext_lazy(
        "The whole name, used when there is no first or last name: split at the first space, "
        "or at the comma of “Last, First”."
    ),
    "email": gettext_lazy("The main email address."),
    "additional_emails": gettext_lazy(
        "More email addresses, separated by commas, semicolons or spaces."
    ),
    "phone": gettext_lazy(
        "Phone numbers; several columns, or several numbers separated by commas or semicolons."
    ),
    "company": gettext_lazy("The company's name."),
    "title": gettext_lazy("Job title."),
    "description": gettext_lazy("Free text."),
    "owner_email": gettext_lazy(
        "Email address or user name of a colleague you can assign records to; empty means you."
    ),
    "status": gettext_lazy("Status: its name or value."),
    "source": gettext_lazy("Lead source (Website, Referral, Event, …); anything else is Other."),
    "name": gettext_lazy("Name."),
    "domains": gettext_lazy("Web domains or web site addresses, separated by commas or spaces."),
    "industry": gettext_lazy("Industry."),
    "address": gettext_lazy(
        "Address; street, postal code, city, state and country columns are joined into it."
    ),
    "postal_code": gettext_lazy("Postal code, added to the address."),
    "city": gettext_lazy("City, added to the address."),
    "state": gettext_lazy("State, region or province, added to the address."),
    "country": gettext_lazy("Country, added to the address."),
    "value": gettext_lazy("Amount, e.g. 1234.50, 1.234,50 or € 1,234."),
    "currency": gettext_lazy("Three-letter currency code, e.g. EUR."),
    "stage": gettext_lazy("Name of an active pipeline stage; empty means the first stage."),
    "expected_close": gettext_lazy(
        "Expected close date: YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY or DD.MM.YYYY."
    ),
    "contact_emails": gettext_lazy("Email addresses of existing contacts to attach to the deal."),
    "lost_reason": gettext_lazy("Why the deal was lost."),
}


def _key(name: str) -> str:
    """ "First Name", "first_name" and "FIRSTNAME" all become "firstname"."""
    return "".join(ch for ch in (name or "").casefold() if ch.isalnum())


def _alias_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, aliases in ALIASES[kind].items():
        for alias in [canonical, *aliases.split("|")]:
            other = index.setdefault(_key(alias), canonical)
            if other != canonical:  # pragma: no cover - a mistake in the tables above
                raise AssertionError(f"{kind}: {alias!r} means both {other} and {canonical}")
    return index


_INDEX = {kind: _alias_index(kind) for kind in KINDS}


def column_for(kind: str, header: str) -> str | None:
    """The canonical column a header name stands for in a file of `kind`, or None."""
    key = _key(header)
    if not key:
        return None
    index = _INDEX[kind]
    if key in index:
        return index[key]
    for prefix in _PREFIXES[kind]:
        if key.startswith(prefix) and key[len(prefix) :] in index:
            return index[key[len(prefix) :]]
    return None


def column_help(kind: str) -> list[dict]:
    """For the import page: each column, what it holds and the header names accepted."""
    return [
        {
            "name": canonical,
            "help": COLUMN_HELP.get(canonical, ""),
            "aliases": aliases.split("|"),
            "identifying": canonical in _IDENTIFYING[kind],
        }
        for canonical, aliases in ALIASES[kind].items()
    ]


# ---------------------------------------------------------------------------------------------
# Reading the file


class ImportRejected(Exception):
    """The whole file was refused; nothing was imported. `message` is for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class ImportResult:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    companies_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class Table:
    delimiter: str
    header: list[str]
    columns: list[str | None]  # the canonical column of each header cell
    rows: list[tuple[int, list[str]]]  # (line number of the row's first line, cells)
    read_error: tuple[int, str] | None = None

    @property
    def ignored(self) -> list[str]:
        return [
            h.strip() for h, c in zip(self.header, self.columns, strict=True) if h.strip() and not c
        ]


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def read_bytes(source: bytes | IO[bytes], max_bytes: int | None = None) -> bytes:
    """The content of an upload or a file, refusing more than `max_bytes`."""
    limit = settings.CRM_IMPORT_MAX_BYTES if max_bytes is None else max_bytes
    data = source if isinstance(source, bytes | bytearray) else source.read(limit + 1)
    if len(data) > limit:
        raise ImportRejected(
            _("The file is too big: the limit is %(limit)s.") % {"limit": filesizeformat(limit)}
        )
    return bytes(data)


def decode(data: bytes) -> str:
    """The text of a CSV file in whatever encoding a spreadsheet wrote it."""
    not_text = _(
        "This does not look like a CSV file. Save the spreadsheet as CSV (comma- or "
        "semicolon-separated values) and try again."
    )
    if not data.strip():
        raise ImportRejected(_("The file is empty."))
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ImportRejected(
            _(
                "This is a spreadsheet workbook, not a CSV file. In Excel or LibreOffice use "
                "“Save as” and choose CSV, then import that file."
            )
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRejected(not_text) from None
    else:
        if b"\x00" in data:
            raise ImportRejected(not_text)
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    text = text.lstrip("\ufeff")
    if len(_CONTROL_RE.findall(text)) > len(text) // 100:
        raise ImportRejected(not_text)
    if not text.strip():
        raise ImportRejected(_("The file is empty."))
    return text


def read_table(text: str, kind: str) -> Table:
    """Split the text into a header and rows, choosing the delimiter that explains the header."""
    best: tuple[tuple[int, int], str, list[str], list[str | None]] | None = None
    for delimiter in (",", ";", "\t", "|"):
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except (StopIteration, csv.Error):
            continue
        columns = [column_for(kind, h) for h in header]
        score = (sum(1 for c in columns if c), len(header))
        if best is None or score > best[0]:
            best = (score, delimiter, header, columns)
    if best is None:
        raise ImportRejected(_("The file is empty."))
    _score, delimiter, header, columns = best
    found = {c for c in columns if c}
    if not found & set(_IDENTIFYING[kind]):
        names = ", ".join(f"“{h.strip()}”" for h in header if h.strip())
        raise ImportRejected(
            _missing_columns_message(kind)
            + " "
            + _("The first line of the file must name the columns; it has: %(columns)s.")
            % {"columns": names or "—"}
        )
    table = Table(delimiter=delimiter, header=header, columns=columns, rows=[])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    last_line = reader.line_num
    try:
        for cells in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                table.rows.append((first_line, cells))
    except csv.Error as exc:
        table.read_error = (
            last_line + 1,
            _("The rest of the file cannot be read: %(error)s") % {"error": exc},
        )
    if not table.rows and table.read_error is None:
        raise ImportRejected(_("The file has a header line but no rows to import."))
    return table


def _missing_columns_message(kind: str) -> str:
    return {
        "contacts": _(
            "The file has no column that identifies a contact: it needs a name (first name, "
            "last name or name) or an email column."
        ),
        "leads": _(
            "The file has no column that identifies a lead: it needs a name (first name, last "
            "name or name), an email or a company column."
        ),
        "companies": _(
            "The file has no column that identifies a company: it needs a name or a domain "
            "(web site) column."
        ),
        "deals": _("The file has no column that identifies a deal: it needs a name column."),
    }[kind]


_ESCAPED_RE = re.compile(r"^'[=+\-@\t\r]")


def _unescape(value: str) -> str:
    """Undo the quote `export_csv` puts before cells a spreadsheet would run as formulas."""
    return value[1:] if _ESCAPED_RE.match(value) else value


class Row:
    """The non-empty values of one row, by canonical column."""

    def __init__(self, table: Table, cells: list[str]):
        self.values: dict[str, list[str]] = {}
        for column, cell in zip(table.columns, cells, strict=False):
            value = _unescape(cell.strip())
            if column and value:
                self.values.setdefault(column, []).append(value)

    def one(self, column: str) -> str:
        values = self.values.get(column)
        return values[0] if values else ""

    def all(self, column: str) -> list[str]:
        return self.values.get(column, [])


# ---------------------------------------------------------------------------------------------
# Parsing values (pure)


def parse_emails(value: str) -> list[str]:
    """Normalised addresses in a cell: `a@x.com, b@y.com`, `a@x.com b@y.com`, `Ann <a@x.com>`."""
    if "<" in value:
        found = [addr for _name, addr in email.utils.getaddresses([value.replace(";", ",")])]
        items = [a for a in found if a] or [value]
    else:
        items = [item for item in re.split(r"[\s,;]+", value) if item]
    return [normalize_email(item) for item in items]


def parse_domains(value: str) -> list[str]:
    return [normalize_domain(item) for item in re.split(r"[\s,;]+", value) if item]


def parse_phones(value: str) -> list[str]:
    return [p for p in (normalize_phone(item) for item in split_lines(value)) if p]


_CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₣": "CHF"}
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


def parse_currency(value: str) -> str:
    code = _CURRENCY_SYMBOLS.get(value.strip(), value.strip())
    if not _CURRENCY_RE.match(code):
        raise ValidationError(
            _("“%(value)s” is not a currency code (three letters, e.g. EUR).") % {"value": value}
        )
    return code.upper()


def parse_amount(value: str) -> tuple[Decimal, str | None]:
    """An amount and the currency written with it, if any: "€ 1.234,50" → (1234.50, "EUR")."""
    text = value.strip()
    currency = None
    for symbol, code in _CURRENCY_SYMBOLS.items():
        if symbol in text:
            currency = code
            text = text.replace(symbol, "")
    match = re.fullmatch(r"\s*([A-Za-z]{3}(?![A-Za-z]))?(.*?)((?<![A-Za-z])[A-Za-z]{3})?\s*", text)
    if match and (match.group(1) or match.group(3)):
        currency = (match.group(1) or match.group(3)).upper()
        text = match.group(2)
    number = re.sub(r"[\s\u00a0\u202f'’]", "", text)
    negative = number.startswith("-")
    number = number.lstrip("+-")
    if "," in number and "." in number:
        decimal_sep = "," if number.rfind(",") > number.rfind(".") else "."
        number = number.replace("." if decimal_sep == "," else ",", "").replace(decimal_sep, ".")
    else:
        for sep in (",", "."):
            count = number.count(sep)
            if count > 1:
                number = number.replace(sep, "")
            elif count == 1:
                whole, frac = number.split(sep)
                thousands = len(frac) == 3 and whole not in ("", "0")
                number = whole + frac if thousands else f"{whole}.{frac}"
    if not re.fullmatch(r"\d+(\.\d+)?", number):
        raise ValidationError(_("“%(value)s” is not an amount.") % {"value": value})
    try:
        amount = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern above rules it out
        raise ValidationError(_("“%(value)s” is not an amount.") % {"value": value}) from None
    return (-amount if negative else amount), currency


_ISO_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
_DMY_DATE_RE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?:[T ].*)?$")


def date_order_hint(values: Iterable[str]) -> bool | None:
    """True if the dates in a column are day-first, False if month-first, None if unknown."""
    day_first = month_first = False
    for value in values:
        match = _DMY_DATE_RE.match(value.strip())
        if not match or match.group(2) == ".":
            continue
        a, b = int(match.group(1)), int(match.group(3))
        day_first |= a > 12 >= b
        month_first |= b > 12 >= a
    if day_first != month_first:
        return day_first
    return None


def parse_date(value: str, day_first: bool | None = None) -> datetime.date:
    text = value.strip()
    bad = ValidationError(
        _("“%(value)s” is not a date: write it as YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY.")
        % {"value": value}
    )
    if match := _ISO_DATE_RE.match(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DMY_DATE_RE.match(text):
        a, sep, b, year_text = match.groups()
        a, b, year = int(a), int(b), int(year_text)
        if len(year_text) == 2:
            year += 2000
        if sep == "." or (a > 12 >= b):
            day, month = a, b
        elif b > 12 >= a:
            day, month = b, a
        elif a == b or day_first is True:
            day, month = a, b
        elif day_first is False:
            day, month = b, a
        else:
            raise ValidationError(
                _(
                    "“%(value)s” could be day/month or month/day: write it as YYYY-MM-DD "
                    "(%(one)s or %(other)s)."
                )
                % {
                    "value": value,
                    "one": f"{year:04d}-{b:02d}-{a:02d}",
                    "other": f"{year:04d}-{a:02d}-{b:02d}",
                }
            )
    else:
        raise bad
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise bad from None


def parse_choice(value: str, choices) -> str:
    """A TextChoices value from its value or its label, in English or the current language."""
    wanted = _key(value)
    for choice in choices:
        with translation.override("en"):
            english = str(choice.label)
        if wanted in (_key(choice.value), _key(english), _key(str(choice.label))):
            return choice.value
    names = ", ".join(str(c.label) for c in choices)
    raise ValidationError(
        _("“%(value)s” is not one of: %(choices)s.") % {"value": value, "choices": names}
    )


def _unique(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def _error_text(exc: ValidationError, model=None) -> str:
    """One line for a row's error, naming the fields a model validation complained about."""
    if hasattr(exc, "error_dict"):
        parts = []
        for name, errors in exc.message_dict.items():
            messages = " ".join(errors)
            if name == NON_FIELD_ERRORS or model is None:
                parts.append(messages)
            else:
                parts.append(f"{_field_label(model, name)}: {messages}")
        return " ".join(parts)
    return " ".join(exc.messages)


def _field_label(model, name: str) -> str:
    try:
        return capfirst(str(model._meta.get_field(name).verbose_name))
    except FieldDoesNotExist:
        return name


# ---------------------------------------------------------------------------------------------
# Importing


class _Importer:
    """State shared by the rows of one import: who imports, whom they may assign, what was seen."""

    def __init__(self, kind: str, user: User, table: Table):
        self.kind = kind
        self.user = user
        self.model = MODELS[kind]
        self.assignable = list(users_assignable_by(user))
        self.used: set[int] = set()  # records already matched by an earlier row of this file
        self.companies_created = 0
        self._companies: dict[str, Company] = {}  # by casefolded name, for contacts and deals
        self._row_companies: list[Company] = []  # created by the current row
        self.day_first = None
        if kind == "deals":
            dates = [
                cell
                for _line, cells in table.rows
                for column, cell in zip(table.columns, cells, strict=False)
                if column == "expected_close"
            ]
            self.day_first = date_order_hint(dates)
            if self.day_first is None and table.delimiter == ";":
                self.day_first = True

    def visible(self, model):
        return records_for_user(model=model, user=self.user)

    # Shared helpers --------------------------------------------------------------------------

    def owner(self, value: str, current: User | None = None) -> User | None:
        """The user a row names as owner, or None for an empty cell."""
        if not value:
            return None
        wanted = value.strip().casefold()
        if current is not None and wanted in _user_names(current):
            return current
        for user in self.assignable:
            if wanted in (user.email.casefold(), user.username.casefold()):
                return user
        by_name = [u for u in self.assignable if u.get_full_name().casefold() == wanted]
        if len(by_name) == 1:
            return by_name[0]
        raise ValidationError(
            _("“%(value)s” is not a user you can assign records to.") % {"value": value}
        )

    def company(self, name: str, owner: User) -> Company:
        """The visible company with this name (for a contact or a deal), created if there is none.

        Files repeat the same few companies, so they are remembered for the rest of the import;
        one created by a row that then fails is forgotten with the row (see `row_done`).
        """
        key = name.casefold()
        company = self._companies.get(key)
        if company is None:
            company = self.visible(Company).filter(name__iexact=name).order_by("pk").first()
        if company is None:
            try:
                company = services.company_save(
                    company=Company(name=name, owner=owner), actor=self.user, verb="imported"
                )
            except ValidationError as exc:
                raise ValidationError(
                    _("Company “%(name)s”: %(error)s")
                    % {"name": name, "error": _error_text(exc, Company)}
                ) from None
            self._row_companies.append(company)
        self._companies.setdefault(key, company)
        return company

    def row_done(self, ok: bool) -> None:
        """Keep or forget what the row just imported or rolled back created on the side."""
        if ok:
            self.companies_created += len(self._row_companies)
        else:
            for company in self._row_companies:
                self._companies.pop(company.name.casefold(), None)
        self._row_companies = []

    def pick(self, candidates: list, preferred=lambda record: True):
        """The best match among candidates: preferred, not yet matched by this file, oldest."""
        if not candidates:
            return None
        return min(candidates, key=lambda r: (not preferred(r), r.pk in self.used, r.pk))

    def pick_by_address(self, candidates: list, same_name, has_name: bool):
        """The record an address (or a domain) of the row belongs to, if it is the same one.

        Records may share an address (colleagues sharing info@...). One with the row's name is
        preferred. A record an earlier row of this file already matched or created under another
        name is someone else: the row then describes a new record, not a rename of that one.
        """
        if any(same_name(r) for r in candidates) or not has_name:
            return self.pick(candidates, same_name)
        return self.pick([r for r in candidates if r.pk not in self.used])

    def row_emails(self, row: Row) -> tuple[list[str], list[str]]:
        primary = [e for cell in row.all("email") for e in parse_emails(cell)]
        others = [e for cell in row.all("additional_emails") for e in parse_emails(cell)]
        return primary, others

    def find_person(self, model, emails: list[str], first: str, last: str, company: str):
        """A contact or lead with one of these addresses or, for a row without any, this name."""
        visible = self.visible(model)
        same_name = (
            (
                lambda r: (
                    r.first_name.casefold() == first.casefold()
                    and r.last_name.casefold() == last.casefold()
                )
            )
            if first or last
            else (lambda r: True)
        )
        if emails:
            owner_field = model._meta.model_name
            matches = EmailAddress.objects.filter(
                address__in=emails, **{f"{owner_field}__in": visible.values("pk")}
            ).values_list(f"{owner_field}_id", flat=True)
            candidates = list(visible.filter(pk__in=list(matches)))
            return self.pick_by_address(candidates, same_name, bool(first or last))
        candidates = visible.filter(first_name__iexact=first, last_name__iexact=last)
        if company:
            lookup = "company__name__iexact" if model is Contact else "company_name__iexact"
            candidates = candidates.filter(**{lookup: company})
        return self.pick(list(candidates))

    @staticmethod
    def merge_emails(existing: list[str], primary: list[str], others: list[str]) -> list[str]:
        """The file's main address first, then the record's, then the file's other ones."""
        return _unique(primary[:1] + existing + primary[1:] + others)

    # One row ---------------------------------------------------------------------------------

    def import_row(self, row: Row) -> str:
        """Import a row, returning "created", "updated" or "unchanged"; ValidationError if bad."""
        return getattr(self, f"_import_{self.kind}")(row)

    def _person_names(self, row: Row) -> tuple[str, str]:
        first, last = row.one("first_name"), row.one("last_name")
        if not first and not last and row.one("full_name"):
            first, last = split_name(row.one("full_name"))
        return first, last

    def _import_contacts(self, row: Row) -> str:
        first, last = self._person_names(row)
        primary, others = self.row_emails(row)
        emails = _unique(primary + others)
        phones = [p for cell in row.all("phone") for p in parse_phones(cell)]
        company_name = row.one("company")
        if not (first or last or emails):
            raise ValidationError(_("This row has no name and no email address."))
        contact = self.find_person(Contact, emails, first, last, company_name)
        creating = contact is None
        owner = self.owner(row.one("owner_email"), None if creating else contact.owner)
        if creating:
            contact = Contact(owner=owner or self.user)
            existing_emails, existing_phones = [], []
        else:
            existing_emails = [e.address for e in contact.emails.all()]
            existing_phones = [p.number for p in contact.phones.all()]
        fields = ("first_name", "last_name", "title", "description", "company_id", "owner_id")
        before = _snapshot(contact, fields)
        _set(contact, first_name=first, last_name=last, title=row.one("title"))
        _set(contact, description=row.one("description"), owner=owner)
        if company_name and not _named(contact.company, company_name):
            contact.company = self.company(company_name, contact.owner)
        return self._save_person(
            contact, fields, before, existing_emails, existing_phones, primary, others, phones
        )

    def _save_person(
        self, record, fields, before, existing_emails, existing_phones, primary, others, phones
    ) -> str:
        """Merge the row's addresses and phones into a contact's or lead's, and save only if
        something changed (re-importing the same file leaves no trace)."""
        creating = record.pk is None
        emails = self.merge_emails(existing_emails, primary, others)
        phones = _unique(existing_phones + phones)
        changed = (before, existing_emails, existing_phones) != (
            _snapshot(record, fields),
            emails,
            phones,
        )
        if creating or changed:
            services.person_save(
                record=record,
                actor=self.user,
                emails=emails,
                phones=phones,
                verb="imported" if creating else "updated",
            )
        return self._outcome(record, creating, changed)

    def _import_leads(self, row: Row) -> str:
        first, last = self._person_names(row)
        primary, others = self.row_emails(row)
        emails = _unique(primary + others)
        phones = [p for cell in row.all("phone") for p in parse_phones(cell)]
        company_name = row.one("company")
        if not (first or last or emails or company_name):
            raise ValidationError(_("This row has no name, no company and no email address."))
        status = row.one("status")
        status = parse_choice(status, Lead.Status) if status else ""
        source = row.one("source")
        if source:
            try:
                source = parse_choice(source, Lead.Source)
            except ValidationError:
                source = Lead.Source.OTHER
        lead = self.find_person(Lead, emails, first, last, company_name)
        creating = lead is None
        owner = self.owner(row.one("owner_email"), None if creating else lead.owner)
        if creating:
            lead = Lead(owner=owner or self.user, source=Lead.Source.IMPORT)
            existing_emails, existing_phones = [], []
        else:
            existing_emails = [e.address for e in lead.emails.all()]
            existing_phones = [p.number for p in lead.phones.all()]
        if lead.is_converted:
            status = ""  # a converted lead stays converted; the file may predate the conversion
        elif status == Lead.Status.CONVERTED:
            raise ValidationError(
                _("An import cannot mark a lead converted: convert it from its page instead.")
            )
        fields = (
            "first_name",
            "last_name",
            "company_name",
            "title",
            "status",
            "source",
            "description",
            "owner_id",
        )
        before = _snapshot(lead, fields)
        _set(lead, first_name=first, last_name=last, company_name=company_name)
        _set(lead, title=row.one("title"), status=status, source=source)
        _set(lead, description=row.one("description"), owner=owner)
        return self._save_person(
            lead, fields, before, existing_emails, existing_phones, primary, others, phones
        )

    def _import_companies(self, row: Row) -> str:
        name = row.one("name")
        domains = _unique(d for cell in row.all("domains") for d in parse_domains(cell))
        phone = normalize_phone(row.one("phone"))
        if not name and not domains:
            raise ValidationError(_("This row has no company name and no domain."))
        visible = self.visible(Company)
        company = None
        if domains:
            ids = CompanyDomain.objects.filter(
                domain__in=domains, company__in=visible.values("pk")
            ).values_list("company_id", flat=True)
            company = self.pick_by_address(
                list(visible.filter(pk__in=list(ids))),
                lambda c: c.name.casefold() == name.casefold(),
                bool(name),
            )
        if company is None and name:
            company = self.pick(list(visible.filter(name__iexact=name)))
        creating = company is None
        if creating and not name:
            raise ValidationError(
                _("No company has the domain “%(domain)s”, and a new company needs a name.")
                % {"domain": domains[0]}
            )
        owner = self.owner(row.one("owner_email"), None if creating else company.owner)
        if creating:
            company = Company(owner=owner or self.user)
            existing_domains = []
        else:
            existing_domains = [d.domain for d in company.domains.all()]
        fields = ("name", "phone", "industry", "address", "description", "owner_id")
        before = _snapshot(company, fields)
        _set(company, name=name, phone=phone, industry=row.one("industry"))
        _set(company, address=_address(row), description=row.one("description"), owner=owner)
        domains = _unique(existing_domains + domains)
        changed = (before, existing_domains) != (_snapshot(company, fields), domains)
        if creating or changed:
            services.company_save(
                company=company,
                actor=self.user,
                domains=domains,
                verb="imported" if creating else "updated",
            )
        return self._outcome(company, creating, changed)

    def _import_deals(self, row: Row) -> str:
        name = row.one("name")
        if not name:
            raise ValidationError(_("This row has no deal name."))
        value = currency = None
        if row.one("value"):
            value, currency = parse_amount(row.one("value"))
        if row.one("currency"):
            currency = parse_currency(row.one("currency"))
        status = row.one("status")
        status = parse_choice(status, Deal.Status) if status else ""
        expected = row.one("expected_close")
        expected = parse_date(expected, self.day_first) if expected else None
        company_name = row.one("company")
        deal = self._find_deal(name, company_name)
        creating = deal is None
        owner = self.owner(row.one("owner_email"), None if creating else deal.owner)
        stage = self._stage(row.one("stage"), None if creating else deal.stage)
        contacts = [self._contact_by_email(cell) for cell in row.all("contact_emails")]
        contacts = [c for group in contacts for c in group]
        if creating:
            stage = stage or stages_active().first()
            if stage is None:
                raise ValidationError(_("There is no active pipeline stage to put the deal in."))
            deal = Deal(
                owner=owner or self.user, currency=settings.CRM_DEFAULT_CURRENCY, stage=stage
            )
            existing_contacts = []
        else:
            existing_contacts = list(deal.contacts.order_by("pk"))
        fields = (
            "name",
            "value",
            "currency",
            "stage_id",
            "status",
            "lost_reason",
            "expected_close",
            "company_id",
            "owner_id",
        )
        before = _snapshot(deal, fields)
        _set(deal, name=name, value=value, currency=currency, stage=stage, owner=owner)
        _set(deal, status=status, lost_reason=row.one("lost_reason"), expected_close=expected)
        if company_name and not _named(deal.company, company_name):
            deal.company = self.company(company_name, deal.owner)
        if deal.status == Deal.Status.OPEN:
            deal.closed_at = None
        elif deal.closed_at is None:
            deal.closed_at = timezone.now()
        contacts = _unique(existing_contacts + contacts)
        changed = (before, existing_contacts) != (_snapshot(deal, fields), contacts)
        if creating or changed:
            services.deal_save(
                deal=deal,
                actor=self.user,
                contacts=contacts,
                verb="imported" if creating else "updated",
            )
        return self._outcome(deal, creating, changed)

    def _find_deal(self, name: str, company_name: str) -> Deal | None:
        candidates = self.visible(Deal).filter(name__iexact=name)
        if company_name:
            return self.pick(list(candidates.filter(company__name__iexact=company_name)))
        candidates = list(candidates)
        without_company = [d for d in candidates if d.company_id is None]
        if without_company or len(candidates) <= 1:
            return self.pick(without_company or candidates)
        raise ValidationError(
            _(
                "%(count)d deals are called “%(name)s”: add a company column to say which one "
                "this row is about."
            )
            % {"count": len(candidates), "name": name}
        )

    def _stage(self, name: str, current: Stage | None) -> Stage | None:
        if not name:
            return None
        if current is not None and current.name.casefold() == name.casefold():
            return current  # even if an operator has since deactivated it
        stage = stages_active().filter(name__iexact=name.strip()).first()
        if stage is None:
            names = ", ".join(s.name for s in stages_active())
            raise ValidationError(
                _("“%(value)s” is not an active pipeline stage; the stages are: %(stages)s.")
                % {"value": name, "stages": names}
            )
        return stage

    def _contact_by_email(self, cell: str) -> list[Contact]:
        found = []
        visible = self.visible(Contact)
        for address in parse_emails(cell):
            contact = visible.filter(emails__address=address).order_by("pk").first()
            if contact is None:
                raise ValidationError(
                    _("No contact has the email address “%(value)s”.") % {"value": address}
                )
            found.append(contact)
        return found

    def _outcome(self, record, creating: bool, changed: bool) -> str:
        self.used.add(record.pk)
        if creating:
            return "created"
        return "updated" if changed else "unchanged"


def _named(company: Company | None, name: str) -> bool:
    """Whether a record's company already has this name (it may not be the oldest of that name)."""
    return company is not None and company.name.casefold() == name.casefold()


def _user_names(user: User) -> set[str]:
    return {n.casefold() for n in (user.email, user.username, user.get_full_name()) if n}


def _snapshot(record, fields: Iterable[str]) -> tuple:
    return tuple(getattr(record, f) for f in fields)


def _set(record, **values) -> None:
    """Set the attributes the row has a value for; an empty cell changes nothing."""
    for name, value in values.items():
        if value not in (None, ""):
            setattr(record, name, value)


def _address(row: Row) -> str:
    street = row.one("address")
    town = " ".join(p for p in (row.one("postal_code"), row.one("city")) if p)
    return "\n".join(p for p in (street, town, row.one("state"), row.one("country")) if p)


# How often (in rows) a long import or export reports its progress to its job page.
PROGRESS_EVERY = 200

Progress = Callable[[int, int], None]  # (rows done, rows in all)


def read_import(kind: str, source: bytes | IO[bytes], max_bytes: int | None = None) -> Table:
    """The rows of a CSV file of `kind`, or ImportRejected if the file cannot be used at all."""
    if kind not in KINDS:
        raise ImportRejected(_("Unknown kind of record: %(kind)s.") % {"kind": kind})
    return read_table(decode(read_bytes(source, max_bytes)), kind)


def import_csv(
    kind: str,
    source: bytes | IO[bytes],
    *,
    user: User,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a CSV file of `kind` as `user`, who owns the new records unless a row says otherwise.

    Raises ImportRejected, having changed nothing, if the file cannot be used at all; otherwise
    imports every good row and reports the others in `result.errors` as (line, message).
    """
    return import_table(kind, read_import(kind, source, max_bytes), user=user, progress=progress)


def import_table(
    kind: str, table: Table, *, user: User, progress: Progress | None = None
) -> ImportResult:
    """Import the rows `read_import` read; `progress`, if given, is told every few hundred rows."""
    importer = _Importer(kind, user, table)
    result = ImportResult(kind=kind, ignored_columns=table.ignored)
    total = len(table.rows)
    for done, (line, cells) in enumerate(table.rows):
        if progress is not None and done and done % PROGRESS_EVERY == 0:
            progress(done, total)
        try:
            with transaction.atomic():
                outcome = importer.import_row(Row(table, cells))
        except ValidationError as exc:
            importer.row_done(ok=False)  # the savepoint undid the row, and what it created
            result.errors.append((line, _error_text(exc, importer.model)))
            continue
        importer.row_done(ok=True)
        setattr(result, outcome, getattr(result, outcome) + 1)
    result.companies_created = importer.companies_created
    if table.read_error:
        result.errors.append(table.read_error)
    if progress is not None:
        progress(total, total)
    return result


def result_to_report(result: ImportResult) -> dict:
    """An ImportResult as JSON, to keep with a job (`report_to_result` reads it back)."""
    return {
        "kind": result.kind,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "companies_created": result.companies_created,
        "errors": [[line, message] for line, message in result.errors],
        "ignored_columns": list(result.ignored_columns),
    }


def report_to_result(report: dict) -> ImportResult:
    return ImportResult(
        kind=report["kind"],
        created=report.get("created", 0),
        updated=report.get("updated", 0),
        unchanged=report.get("unchanged", 0),
        companies_created=report.get("companies_created", 0),
        errors=[(line, message) for line, message in report.get("errors", [])],
        ignored_columns=list(report.get("ignored_columns", [])),
    )


# ---------------------------------------------------------------------------------------------
# Exporting


class _Echo:
    def write(self, value: str) -> str:
        return value


_FORMULA_RE = re.compile(r"^[=+\-@\t\r]")
_NUMBERISH_RE = re.compile(r"^[+\-]?[\d\s().,;\-/]*$")


def _safe(value) -> str:
    """A cell a spreadsheet will not run as a formula (import removes the quote again)."""
    text = "" if value is None else str(value)
    if _FORMULA_RE.match(text) and not _NUMBERISH_RE.match(text):
        return "'" + text
    return text


def _owner_email(record) -> str:
    return record.owner.email or record.owner.username


def _export_row(kind: str, record) -> list:
    if kind in ("contacts", "leads"):
        emails = [e.address for e in record.emails.all()]
        row = [
            record.first_name,
            record.last_name,
            emails[0] if emails else "",
            ", ".join(emails[1:]),
            ", ".join(p.number for p in record.phones.all()),
            (record.company.name if record.company else "")
            if kind == "contacts"
            else record.company_name,
            record.title,
        ]
        if kind == "leads":
            row += [record.status, record.source]
        return [*row, _owner_email(record), record.description]
    if kind == "companies":
        return [
            record.name,
            ", ".join(d.domain for d in record.domains.all()),
            record.phone,
            record.industry,
            record.address,
            _owner_email(record),
            record.description,
        ]
    contact_emails = []
    for contact in record.contacts.all():
        addresses = [e.address for e in contact.emails.all()]
        if addresses:
            contact_emails.append(addresses[0])
    return [
        record.name,
        f"{record.value:.2f}",
        record.currency,
        record.stage.name,
        record.status,
        record.expected_close.isoformat() if record.expected_close else "",
        record.company.name if record.company else "",
        ", ".join(contact_emails),
        record.lost_reason,
        _owner_email(record),
    ]


_EXPORT_RELATED = {
    "contacts": (("owner", "company"), ("emails", "phones")),
    "leads": (("owner",), ("emails", "phones")),
    "companies": (("owner",), ("domains",)),
    "deals": (("owner", "stage", "company"), ("contacts__emails",)),
}


def export_csv(kind: str, queryset, *, bom: bool = False) -> Iterator[str]:
    """The records of `queryset` as CSV lines, header first, in the columns import reads."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    writer = csv.writer(_Echo())
    if bom:
        yield "\ufeff"
    yield writer.writerow(EXPORT_COLUMNS[kind])
    select, prefetch = _EXPORT_RELATED[kind]
    records = queryset.select_related(*select).prefetch_related(*prefetch).order_by("pk")
    for record in records.iterator(chunk_size=500):
        yield writer.writerow([_safe(v) for v in _export_row(kind, record)])


def export_csv_to_file(
    kind: str, queryset, out: IO[bytes], *, total: int, progress: Progress | None = None
) -> int:
    """Write the export of `queryset` to a binary file, as the download view serves it (UTF-8
    with a BOM); `progress` is told every few hundred records. Returns the records written."""
    written = -1  # the first line is the header
    for line in export_csv(kind, queryset, bom=True):
        out.write(line.encode("utf-8"))
        if line == "\ufeff":
            continue
        written += 1
        if progress is not None and written and written % PROGRESS_EVERY == 0:
            progress(written, max(total, written))
    if progress is not None:
        progress(written, max(total, written))
    return written
