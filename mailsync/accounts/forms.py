"""The rep's mailbox settings: an address, a password, and the IMAP and SMTP servers."""

import ipaddress
import re

from django import forms
from django.utils.translation import gettext_lazy as _

from mailsync.accounts.presets import Preset
from mailsync.accounts.services import ConnectionSettings
from mailsync.errors import code_info
from mailsync.models import MailAccount
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

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()

    def clean_login(self):
        return self.cleaned_data["login"].strip()

    def clean_imap_host(self):
        host = clean_host(self.cleaned_data["imap_host"])
        if host.split(".")[0] in ("pop", "pop3"):
            raise forms.ValidationError(_pop3_message(), code="pop3_not_supported")
        return host

    def clean_smtp_host(self):
        return clean_host(self.cleaned_data["smtp_host"])

    def clean_imap_port(self):
        port = self.cleaned_data["imap_port"]
        if port in POP3_PORTS:
            raise forms.ValidationError(_pop3_message(), code="pop3_not_supported")
        return port

    def clean_smtp_port(self):
        port = self.cleaned_data["smtp_port"]
        if port in POP3_PORTS:
            raise forms.ValidationError(_pop3_message(), code="pop3_not_supported")
        return port

    def clean(self):
        data = super().clean()
        if "email" in data and not data.get("login"):
            data["login"] = data["email"]
        for side in ("imap", "smtp"):
            port, security = data.get(f"{side}_port"), data.get(f"{side}_security")
            expected = _PORT_SECURITY.get(port)
            if expected and security and security != expected:
                self.add_error(
                    f"{side}_security",
                    forms.ValidationError(
                        _("Port %(port)s uses %(expected)s, not %(chosen)s."),
                        code="security_mismatch",
                        params={
                            "port": port,
                            "expected": MailAccount.Security(expected).label,
                            "chosen": MailAccount.Security(security).label,
                        },
                    ),
                )
        return data

    def to_connection_settings(self, *, pin: str = "") -> ConnectionSettings:
        data = self.cleaned_data
        return ConnectionSettings(
            email=data["email"],
            login=data["login"] or data["email"],
            password=data["password"],
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
