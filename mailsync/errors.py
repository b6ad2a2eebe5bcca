# ruff: noqa: E501  (a catalogue of prose: one help text a line reads better than split strings)
"""The catalogue of error and skip codes (shared/ERRORS.md): what the product stores, shows,
documents and tests. A code never changes meaning; new ones may be added.

Each code has a short title and a help text saying what happened and what to do, in English and
Italian. Where an error comes from a server, the server's own words are kept next to the code.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

CONNECTION = "connection"
DELIVERY = "delivery"
MISSING = "missing"


@dataclass(frozen=True)
class Code:
    code: str
    category: str
    title: Promise
    help: Promise


def _codes(category: str, *entries: tuple[str, Promise, Promise]) -> dict[str, Code]:
    return {code: Code(code, category, title, help) for code, title, help in entries}


CATALOG: dict[str, Code] = {
    **_codes(
        CONNECTION,
        (
            "dns_not_found",
            _("Server name not found"),
            _(
                "The server's host name does not resolve. Check its spelling; your provider's help pages give the exact name."
            ),
        ),
        (
            "connection_refused",
            _("Connection refused"),
            _(
                "Nothing answers on that host and port. Check the port number and the security setting (IMAP: 993 with SSL/TLS or 143 with STARTTLS; SMTP: 465 or 587)."
            ),
        ),
        (
            "connection_timeout",
            _("No answer in time"),
            _(
                "The server did not answer in time. A firewall may block the port, or the port may be wrong. Try again; if it persists, check the port and ask your IT team whether outgoing connections to it are allowed."
            ),
        ),
        (
            "pop3_not_supported",
            _("POP3 is not supported"),
            _(
                "This is a POP3 server or port (110, 995). The CRM reads mail over IMAP only, so that it never removes mail from your mailbox. Use your provider's IMAP server, usually on port 993."
            ),
        ),
        (
            "tls_untrusted_certificate",
            _("Untrusted certificate"),
            _(
                "The server's certificate is self-signed or issued by an authority the CRM does not trust. Check the host name (use the name on your provider's certificate). If your organisation runs its own authority, an operator can add it with MAILSYNC_CA_FILE, or pin this certificate for your account."
            ),
        ),
        (
            "tls_certificate_expired",
            _("Certificate expired"),
            _(
                "The server's certificate has expired or is not valid yet. The mail provider must renew it; until then the CRM will not connect, to keep your password safe. Also check that this computer's clock is right."
            ),
        ),
        (
            "tls_hostname_mismatch",
            _("Certificate for another server"),
            _(
                "The server's certificate is for another host name. Use the host name that your provider documents (for example imap.provider.com rather than mail.yourcompany.com)."
            ),
        ),
        (
            "tls_handshake_failed",
            _("Secure connection failed"),
            _(
                "TLS could not be negotiated. The security setting probably does not match the port: use SSL/TLS on 993 and 465, STARTTLS on 143 and 587."
            ),
        ),
        (
            "starttls_unavailable",
            _("STARTTLS not offered"),
            _(
                "You chose STARTTLS but the server does not offer it. Use SSL/TLS on the server's secure port instead; the CRM never sends your password unencrypted."
            ),
        ),
        (
            "imap_auth_failed",
            _("Sign-in refused"),
            _(
                "The IMAP server refused the user name or password. Check both; many providers want the full email address as user name. If your account has 2-step verification, create an app password and use it here."
            ),
        ),
        (
            "app_password_required",
            _("App password required"),
            _(
                "Your provider requires an app password because 2-step verification is on. Create one in your account's security settings and enter it here instead of your usual password."
            ),
        ),
        (
            "imap_disabled",
            _("IMAP is turned off"),
            _(
                "The provider says IMAP access is turned off for this mailbox. Turn it on in your mail settings (or ask your administrator), then try again."
            ),
        ),
        (
            "sent_folder_not_found",
            _("Sent folder not found"),
            _(
                "No folder is marked as Sent and none has a known Sent name. Send one message from your mail program so that it creates the Sent folder, or ask an operator to name the folder for your account."
            ),
        ),
        (
            "smtp_auth_failed",
            _("Sending sign-in refused"),
            _(
                "The SMTP server refused the credentials. Check the user name and password for sending; with 2-step verification you need an app password."
            ),
        ),
        (
            "smtp_auth_disabled",
            _("Sending with a password is turned off"),
            _(
                "The provider has turned off SMTP authentication for this mailbox (Microsoft 365 tenants often do). Ask your administrator to enable authenticated SMTP for it, or connect with Microsoft instead."
            ),
        ),
        (
            "oauth_consent_required",
            _("Administrator approval needed"),
            _(
                "Your organisation's administrator must approve this app before you can connect. Send them the link shown and connect again once they have approved it."
            ),
        ),
        (
            "oauth_reconnect_required",
            _("Connect again"),
            _(
                "Access to your mailbox was revoked or has expired. Connect your mailbox again; mail already in the CRM is kept."
            ),
        ),
        (
            "oauth_expiring_soon",
            _("Access expires soon"),
            _(
                "Access to your mailbox will expire soon unless it is renewed. Connect again now to avoid a gap in your mail."
            ),
        ),
        (
            "server_error",
            _("Server error"),
            _(
                "The server answered with an error the CRM does not recognise; its words are shown. Try again later; if it persists, show the message to your mail provider."
            ),
        ),
        (
            "host_not_allowed",
            _("Server address not allowed"),
            _(
                "The server's name leads to an address inside a private network (such as 127.0.0.1, 10.x or 192.168.x), which the CRM does not connect to for safety. Use your provider's public server name. If your organisation's mail server really is on the internal network, an operator can allow it (MAILSYNC_ALLOW_PRIVATE_HOSTS)."
            ),
        ),
        (
            "database_unavailable",
            _("The CRM's database did not answer"),
            _(
                "The CRM could not reach its own database while storing your mail. Nothing was lost or skipped: the same messages are fetched again at the next sync, which is retried automatically. If it persists, tell the operators."
            ),
        ),
        (
            "internal_error",
            _("Error inside the CRM"),
            _(
                "Something went wrong inside the CRM, not at your mail provider. The sync is retried automatically and the operators have the details in their log; if it persists, tell them the time shown here."
            ),
        ),
    ),
    **_codes(
        DELIVERY,
        (
            "recipient_unknown",
            _("Address does not exist"),
            _(
                "The recipient's address does not exist. Check it for typos, or find their current address."
            ),
        ),
        (
            "domain_not_found",
            _("Domain not found"),
            _(
                "The recipient's domain does not exist or receives no mail. Check the part after the @."
            ),
        ),
        (
            "mailbox_full",
            _("Mailbox full"),
            _(
                "The recipient's mailbox is over its quota. Try again later, or reach them another way."
            ),
        ),
        (
            "message_too_large",
            _("Message too large"),
            _(
                "The message is larger than the receiving server accepts. Send smaller attachments, or share a link instead."
            ),
        ),
        (
            "rejected_as_spam",
            _("Rejected as spam"),
            _(
                "The receiving server refused the message as spam or by policy. Remove links or attachments that may look suspicious, or ask the recipient to allow your address."
            ),
        ),
        (
            "sender_not_authenticated",
            _("Sender not authenticated"),
            _(
                "SPF, DKIM or DMARC failed for your domain, so the receiver refused the message. Your IT team must fix your domain's mail settings."
            ),
        ),
        (
            "relay_denied",
            _("Relay refused"),
            _(
                "Your SMTP server refused to send for this sender address. Send from the address of the connected mailbox."
            ),
        ),
        (
            "rate_limited",
            _("Sending too fast"),
            _(
                "The sending or receiving server is throttling. The message will be retried automatically."
            ),
        ),
        (
            "send_limit_reached",
            _("Sending limit reached"),
            _(
                "Your account's own daily or per-minute sending limit was reached. The message is sent when the limit allows."
            ),
        ),
        (
            "send_failed",
            _("Sending failed"),
            _(
                "The send failed for a reason the CRM does not recognise; the server's words are shown. Try again, or show them to your mail provider."
            ),
        ),
        (
            "deferred",
            _("Delivery delayed"),
            _("A temporary failure: delivery will be retried automatically."),
        ),
        (
            "expired",
            _("Delivery gave up"),
            _("Delivery kept failing until the server gave up. Check the address and send again."),
        ),
        (
            "delivered",
            _("Delivered"),
            _("A delivery report or PEC delivery receipt confirms the message arrived."),
        ),
    ),
    **_codes(
        MISSING,
        (
            "other_folder",
            _("In a folder that is not synced"),
            _(
                "Only Inbox and Sent are synced. Move the message to the Inbox, or forward it to your BCC address."
            ),
        ),
        (
            "too_many_recipients",
            _("Too many recipients"),
            _(
                "The message has more recipients than the limit (100 by default), so only its headers were kept. Choose “Import anyway” to import it in full."
            ),
        ),
        (
            "too_many_bcc_contacts",
            _("Too many contacts in Bcc"),
            _(
                "The message names more contacts in Bcc than the limit, so only its headers were kept. Choose “Import anyway” to import it in full."
            ),
        ),
        (
            "blocked",
            _("Blocked"),
            _(
                "A sender or recipient is on your block list. Remove the entry to import the message."
            ),
        ),
        (
            "no_matching_record",
            _("No matching record"),
            _(
                "No lead or contact has these addresses. The addresses are in your candidates list: add one as a lead or contact to link the mail."
            ),
        ),
        (
            "before_sync_window",
            _("Older than the sync window"),
            _(
                "The message is older than the history you chose when connecting. Widen the history in your mailbox settings to import it."
            ),
        ),
        (
            "not_synced_yet",
            _("Not synced yet"),
            _("The next sync has not run yet. Choose “Sync now” or wait a few minutes."),
        ),
        ("private", _("Private"), _("The message belongs to another rep's private mail.")),
        (
            "unparseable",
            _("Could not be read"),
            _(
                "The message could not be parsed. The raw message is kept and can be downloaded; the reason is shown."
            ),
        ),
        (
            "oversized",
            _("Too large"),
            _("The message is larger than the size limit, so only its headers were kept."),
        ),
        (
            "sender_not_verified",
            _("Sender not verified"),
            _(
                "It arrived at your BCC address from an address you have not verified. Add and verify that address, or send from a verified one."
            ),
        ),
        (
            "duplicate",
            _("Already stored"),
            _(
                "The same message was already in the CRM; this copy was recorded as another place it was seen."
            ),
        ),
    ),
}


# The ledger code of mail the owner's block list keeps out (in the catalogue like any other).
BLOCKED = "blocked"


def validate_code(value: str) -> None:
    """Model fields hold catalogue codes without database choices: a new code (OAuth, bounces,
    PEC) is one entry here, not a migration."""
    if value not in CATALOG:
        raise ValidationError(_("%(code)s is not a code of the catalogue."), params={"code": value})


def code_info(code: str) -> Code:
    """The catalogue entry for a code; an unknown code is reported as a server error, not lost."""
    return CATALOG.get(code) or CATALOG["server_error"]


class MailError(Exception):
    """A failure with a catalogue code and, where a server said something, its own words."""

    def __init__(self, code: str, server_words: str = "", *, stage: str = ""):
        if code not in CATALOG:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {server_words}" if server_words else code)
        self.code = code
        self.server_words = server_words
        self.stage = stage

    @property
    def info(self) -> Code:
        return CATALOG[self.code]
