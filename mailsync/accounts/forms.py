"""The rep's mailbox settings: an address, a password, and the IMAP and SMTP servers.

The rules those settings follow are `connection_clean`, which the mailbox form and the
`mail_connect` command share, so that an operator's typo is refused with the same words as a rep's.
"""

import ipaddress
import re

from django import forms
from django.core import validators
from django.utils.translation import gettext_lazy as _

from mailsync.accounts.presets import Preset
from mailsync.accounts.services import ConnectionSettings
from mailsync.errors import code_info
from mailsync.models import MailAccount
from mailsync.transport.credentials import Password
from mailsync.transport.imap import POP3_PORTS, Server

SERVER_FIELDS = [
    "imap_host",
    "imap_port",
    "imap_security",
    "smtp_host",
    "smtp_port",
    "smtp_security",
]
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Well-known ports and the only security that works on them: a mismatch would otherwise hang
# until the timeout (STARTTLS on 993 waits for a greeting that a TLS server never sends).
_PORT_SECURITY = {993: "ssl", 143: "starttls", 465: "ssl", 587: "starttls", 25: "starttls"}


def _pop3_message() -> str:
    info = code_info("pop3_not_supported")
    return f"{info.title}: {info.help}"


def clean_host(value: str) -> str:
    """A host name (trimmed, lower-case, IDN in its ASCII form) or an IP address."""
    host = (value or "").strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.split(".")
    if (
        not ascii_host
        or len(ascii_host) > 253
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise forms.ValidationError(
            _("“%(value)s” is not a server name: write it like imap.example.com."),
            code="invalid_host",
            params={"value": value.strip()},
        )
    return ascii_host


def connection_clean(data: dict) -> dict:
    """The rules of a mailbox's connection settings: `data` holds the values typed, already of
    their type (integer ports), under the form's field names: email, login, imap_host,
    imap_port, imap_security, smtp_host, smtp_port, smtp_security, history_days. Returns them
    cleaned (address and host names normalised, the login defaulting to the address), or raises
    a ValidationError naming the fields (`error_dict`). A name missing from `data` (a form field
    that failed its own check) is skipped, and so is every rule that needs it."""
    cleaned = dict(data)
    errors: dict[str, list[forms.ValidationError]] = {}

    def check(name: str, rule) -> None:
        if name not in cleaned:
            return
        try:
            cleaned[name] = rule(cleaned[name])
        except forms.ValidationError as error:
            errors.setdefault(name, []).append(error)
            del cleaned[name]

    check("email", _clean_email)
    check("login", lambda value: (value or "").strip())
    check("imap_host", _clean_imap_host)
    check("smtp_host", clean_host)
    for side in ("imap", "smtp"):
        check(f"{side}_port", _clean_port)
        check(f"{side}_security", _clean_security)
    check("history_days", _clean_history_days)
    if "email" in cleaned and not cleaned.get("login"):
        cleaned["login"] = cleaned["email"]
    for side in ("imap", "smtp"):
        port, security = cleaned.get(f"{side}_port"), cleaned.get(f"{side}_security")
        expected = _PORT_SECURITY.get(port)
        if expected and security and security != expected:
            errors.setdefault(f"{side}_security", []).append(
                forms.ValidationError(
                    _("Port %(port)s uses %(expected)s, not %(chosen)s."),
                    code="security_mismatch",
                    params={
                        "port": port,
                        "expected": MailAccount.Security(expected).label,
                        "chosen": MailAccount.Security(security).label,
                    },
                )
            )
    if errors:
        raise forms.ValidationError(errors)
    return cleaned


def _run(value, *rules):
    for rule in rules:
        rule(value)
    return value


def _clean_email(value: str) -> str:
    # The form's EmailField runs the same validators: the command gets the same words.
    value = (value or "").strip()
    return _run(value, validators.MaxLengthValidator(254), validators.validate_email).lower()


def _clean_imap_host(value: str) -> str:
    host = clean_host(value)
    if host.split(".")[0] in ("pop", "pop3"):
        raise forms.ValidationError(_pop3_message(), code="pop3_not_supported")
    return host


def _clean_port(port: int) -> int:
    _run(port, validators.MinValueValidator(1), validators.MaxValueValidator(65535))
    if port in POP3_PORTS:
        raise forms.ValidationError(_pop3_message(), code="pop3_not_supported")
    return port


def _choice(choices):
    """A rule that the value is one of `choices`, refused in the words of the form's own
    ChoiceField (Django's, translated)."""

    def rule(value):
        if value not in choices:
            raise forms.ValidationError(
                forms.ChoiceField.default_error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return value

    return rule


_clean_security = _choice(MailAccount.Security.values)
_clean_history_days = _choice([days for days, _label in MailAccount.HISTORY_CHOICES])


class MailboxForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    login = forms.CharField(
        label=_("User name"),
        max_length=254,
        required=False,
        help_text=_("Leave empty to use the email address, which most providers expect."),
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=1000,
        help_text=_(
            "Your mailbox's password, or an app password if your provider asks for one. It is "
            "stored encrypted and never shown again."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    imap_host = forms.CharField(
        label=_("IMAP server"),
        max_length=253,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(
        label=_("IMAP security"), choices=MailAccount.Security.choices, initial="ssl"
    )
    smtp_host = forms.CharField(
        label=_("SMTP server"),
        max_length=253,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, initial=465)
    smtp_security = forms.ChoiceField(
        label=_("SMTP security"), choices=MailAccount.Security.choices, initial="ssl"
    )
    history_days = forms.TypedChoiceField(
        label=_("History to sync"),
        choices=MailAccount.HISTORY_CHOICES,
        coerce=int,
        initial=90,
        help_text=_("How far back to import mail from your Inbox and Sent folders."),
    )

    def clean(self):
        data = super().clean()
        try:
            data.update(connection_clean(data))
        except forms.ValidationError as error:
            self.add_error(None, error)  # each error on its own field
        return data

    def to_connection_settings(self, *, pin: str = "") -> ConnectionSettings:
        data = self.cleaned_data
        return ConnectionSettings(
            email=data["email"],
            credentials=Password(data["login"] or data["email"], data["password"]),
            imap=Server(data["imap_host"], data["imap_port"], data["imap_security"]),
            smtp=Server(data["smtp_host"], data["smtp_port"], data["smtp_security"]),
            history_days=data["history_days"],
            pin=pin,
        )

    @staticmethod
    def initial_from_account(account: MailAccount) -> dict:
        """What the form shows when a rep reconnects or changes settings: never the password."""
        return {
            "email": account.email,
            "login": "" if account.login == account.email else account.login,
            "history_days": account.history_days,
            **{name: getattr(account, name) for name in SERVER_FIELDS},
        }

    @staticmethod
    def initial_from_preset(preset: Preset) -> dict:
        return {name: getattr(preset, name) for name in SERVER_FIELDS}
