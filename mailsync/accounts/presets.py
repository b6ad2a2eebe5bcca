"""Provider presets: the IMAP and SMTP servers of common mail providers, by email domain.

Only exact domains match ("gmail.com", not "mail.gmail.com" nor "notgmail.com"), with one
exception: Microsoft 365 tenants' own "<tenant>.onmicrosoft.com" domains. Servers are the ones the
providers document (cross-checked with Thunderbird's ISPDB): IMAP over SSL/TLS on 993, SMTP over
SSL/TLS on 465 or STARTTLS on 587.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

SSL = "ssl"
STARTTLS = "starttls"


@dataclass(frozen=True)
class Preset:
    name: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    note: Promise | str = ""
    oauth: str = ""  # "google", "microsoft" or "": how the provider would rather be connected


_APP_PASSWORD = _(
    "If your account has 2-step verification, create an app password in its security "
    "settings and use it here."
)

GMAIL = Preset(
    "Gmail",
    "imap.gmail.com",
    993,
    SSL,
    "smtp.gmail.com",
    465,
    SSL,
    _(
        "Gmail needs an app password when 2-step verification is on (Google account → "
        "Security → App passwords); connecting with Google is coming soon."
    ),
    oauth="google",
)
OUTLOOK = Preset(
    "Outlook.com",
    "outlook.office365.com",
    993,
    SSL,
    "smtp-mail.outlook.com",
    587,
    STARTTLS,
    _(
        "Outlook.com, Hotmail and Live mailboxes often refuse passwords, even app passwords: "
        "they expect you to connect with Microsoft, which is coming soon."
    ),
    oauth="microsoft",
)
MICROSOFT_365 = Preset(
    "Microsoft 365",
    "outlook.office365.com",
    993,
    SSL,
    "smtp.office365.com",
    587,
    STARTTLS,
    _(
        "Most Microsoft 365 organisations turn off password sign-in for IMAP and SMTP: they "
        "expect you to connect with Microsoft, which is coming soon. Your administrator can "
        "tell you whether a password works."
    ),
    oauth="microsoft",
)
YAHOO = Preset(
    "Yahoo Mail",
    "imap.mail.yahoo.com",
    993,
    SSL,
    "smtp.mail.yahoo.com",
    465,
    SSL,
    _("Yahoo Mail needs an app password: create one in your Yahoo account's security settings."),
)
ICLOUD = Preset(
    "iCloud Mail",
    "imap.mail.me.com",
    993,
    SSL,
    "smtp.mail.me.com",
    587,
    STARTTLS,
    _(
        "iCloud Mail needs an app-specific password: create one at account.apple.com, under "
        "Sign-In and Security."
    ),
)
FASTMAIL = Preset(
    "Fastmail",
    "imap.fastmail.com",
    993,
    SSL,
    "smtp.fastmail.com",
    465,
    SSL,
    _("Fastmail needs an app password: create one under Settings → Privacy & Security."),
)
ZOHO = Preset(
    "Zoho Mail",
    "imap.zoho.com",
    993,
    SSL,
    "smtp.zoho.com",
    465,
    SSL,
    _(
        "Turn on IMAP access in Zoho Mail's settings first; with 2-step verification, use an "
        "app password."
    ),
)
GMX_NET = Preset(
    "GMX",
    "imap.gmx.net",
    993,
    SSL,
    "mail.gmx.net",
    587,
    STARTTLS,
    _("Allow POP3 and IMAP access once in GMX's mail settings first."),
)
GMX_COM = Preset(
    "GMX",
    "imap.gmx.com",
    993,
    SSL,
    "mail.gmx.com",
    587,
    STARTTLS,
    _("Allow POP3 and IMAP access once in GMX's mail settings first."),
)
WEB_DE = Preset(
    "WEB.DE",
    "imap.web.de",
    993,
    SSL,
    "smtp.web.de",
    587,
    STARTTLS,
    _("Allow POP3 and IMAP access once in WEB.DE's mail settings first."),
)
AOL = Preset("AOL Mail", "imap.aol.com", 993, SSL, "smtp.aol.com", 465, SSL, _APP_PASSWORD)
YANDEX = Preset(
    "Yandex Mail",
    "imap.yandex.com",
    993,
    SSL,
    "smtp.yandex.com",
    465,
    SSL,
    _(
        "Turn on access by mail clients in Yandex Mail's settings, and use an app password "
        "created in your Yandex ID."
    ),
)
ARUBA = Preset("Aruba", "imaps.aruba.it", 993, SSL, "smtps.aruba.it", 465, SSL)
ARUBA_PEC = Preset("Aruba PEC", "imaps.pec.aruba.it", 993, SSL, "smtps.pec.aruba.it", 465, SSL)
LIBERO = Preset("Libero Mail", "imapmail.libero.it", 993, SSL, "smtp.libero.it", 465, SSL)
VIRGILIO = Preset("Virgilio Mail", "in.virgilio.it", 993, SSL, "out.virgilio.it", 465, SSL)
TIM = Preset("TIM Mail", "imap.tim.it", 993, SSL, "smtp.tim.it", 465, SSL)
TISCALI = Preset("Tiscali Mail", "imap.tiscali.it", 993, SSL, "smtp.tiscali.it", 465, SSL)
REGISTER_IT = Preset("Register.it", "imap.register.it", 993, SSL, "authsmtp.register.it", 465, SSL)
EMAIL_IT = Preset("Email.it", "in.email.it", 993, SSL, "out.email.it", 465, SSL)
FASTWEB = Preset("Fastweb", "imap.fastwebnet.it", 993, SSL, "smtp.fastwebnet.it", 587, STARTTLS)
MAIL_COM = Preset("mail.com", "imap.mail.com", 993, SSL, "smtp.mail.com", 587, STARTTLS)
MAILBOX_ORG = Preset("mailbox.org", "imap.mailbox.org", 993, SSL, "smtp.mailbox.org", 465, SSL)
POSTEO = Preset("Posteo", "posteo.de", 993, SSL, "posteo.de", 465, SSL)
T_ONLINE = Preset(
    "T-Online",
    "secureimap.t-online.de",
    993,
    SSL,
    "securesmtp.t-online.de",
    465,
    SSL,
    _("T-Online needs its separate email password (set in the Telekom customer centre)."),
)
ORANGE = Preset("Orange", "imap.orange.fr", 993, SSL, "smtp.orange.fr", 465, SSL)
FREE = Preset("Free", "imap.free.fr", 993, SSL, "smtp.free.fr", 465, SSL)


def _domains(preset: Preset, *domains: str) -> dict[str, Preset]:
    return dict.fromkeys(domains, preset)


PRESETS: dict[str, Preset] = {
    **_domains(GMAIL, "gmail.com", "googlemail.com"),
    **_domains(
        OUTLOOK,
        "outlook.com",
        "outlook.it",
        "outlook.de",
        "outlook.fr",
        "outlook.es",
        "outlook.at",
        "outlook.be",
        "outlook.ie",
        "hotmail.com",
        "hotmail.it",
        "hotmail.co.uk",
        "hotmail.de",
        "hotmail.fr",
        "hotmail.es",
        "hotmail.nl",
        "live.com",
        "live.it",
        "live.co.uk",
        "live.de",
        "live.fr",
        "live.nl",
        "msn.com",
        "windowslive.com",
    ),
    **_domains(
        YAHOO,
        "yahoo.com",
        "yahoo.it",
        "yahoo.co.uk",
        "yahoo.de",
        "yahoo.fr",
        "yahoo.es",
        "ymail.com",
        "rocketmail.com",
    ),
    **_domains(ICLOUD, "icloud.com", "me.com", "mac.com"),
    **_domains(FASTMAIL, "fastmail.com", "fastmail.fm"),
    **_domains(ZOHO, "zoho.com", "zohomail.com"),
    **_domains(GMX_NET, "gmx.net", "gmx.de", "gmx.at", "gmx.ch"),
    **_domains(GMX_COM, "gmx.com", "gmx.it", "gmx.co.uk", "gmx.fr", "gmx.es", "gmx.us"),
    **_domains(WEB_DE, "web.de"),
    **_domains(AOL, "aol.com", "aol.it", "aim.com"),
    **_domains(YANDEX, "yandex.com", "yandex.ru", "ya.ru"),
    **_domains(ARUBA, "aruba.it"),
    **_domains(ARUBA_PEC, "pec.it", "arubapec.it"),
    **_domains(LIBERO, "libero.it", "inwind.it", "iol.it", "blu.it", "giallo.it"),
    **_domains(VIRGILIO, "virgilio.it"),
    **_domains(TIM, "tim.it", "alice.it", "tin.it"),
    **_domains(TISCALI, "tiscali.it"),
    **_domains(REGISTER_IT, "register.it"),
    **_domains(EMAIL_IT, "email.it"),
    **_domains(FASTWEB, "fastwebnet.it"),
    **_domains(MAIL_COM, "mail.com", "email.com"),
    **_domains(MAILBOX_ORG, "mailbox.org"),
    **_domains(POSTEO, "posteo.de", "posteo.net"),
    **_domains(T_ONLINE, "t-online.de"),
    **_domains(ORANGE, "orange.fr", "wanadoo.fr"),
    **_domains(FREE, "free.fr"),
}

# Every Microsoft 365 tenant has a domain of its own under onmicrosoft.com, which only
# Microsoft hands out: the one suffix that is matched.
MICROSOFT_365_SUFFIX = ".onmicrosoft.com"


def preset_for(email: str) -> Preset | None:
    """The preset for an address's domain, or None for a domain we do not know."""
    _local, at, domain = (email or "").strip().rpartition("@")
    if not at:
        return None
    domain = domain.lower().rstrip(".")
    if domain in PRESETS:
        return PRESETS[domain]
    if domain.endswith(MICROSOFT_365_SUFFIX) and len(domain) > len(MICROSOFT_365_SUFFIX):
        return MICROSOFT_365
    return None
