"""The two OAuth providers a mailbox can sign in with, as the settings describe them (every URL
and host is a setting: see crm/settings.py), read when asked so that a test or an operator's
check can point them elsewhere."""

from dataclasses import dataclass

from django.conf import settings

from mailsync.transport.imap import Server
from mailsync.transport.oauth import Endpoints

GOOGLE = "google"
MICROSOFT = "microsoft"

GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
MICROSOFT_MAIL_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)


@dataclass(frozen=True)
class OAuthProvider:
    name: str  # MailAccount.Auth
    authorize_url: str
    endpoints: Endpoints
    # Asked for at consent: the mail scopes, offline access, and who the rep is.
    scopes: tuple[str, ...]
    # Asked for at each refresh (Microsoft mints one token per resource: the mail servers').
    refresh_scope: str
    # Sent with the consent: Google gives a refresh token only for offline access, and on a
    # second connection only if asked for consent again.
    consent_params: dict
    imap: Server
    smtp: Server


def oauth_provider(name: str) -> OAuthProvider:
    if name == GOOGLE:
        return OAuthProvider(
            name=GOOGLE,
            authorize_url=settings.GOOGLE_OAUTH_AUTHORIZE_URL,
            endpoints=Endpoints(
                token_url=settings.GOOGLE_OAUTH_TOKEN_URL,
                userinfo_url=settings.GOOGLE_OAUTH_USERINFO_URL,
                revoke_url=settings.GOOGLE_OAUTH_REVOKE_URL,
                client_id=settings.GOOGLE_OAUTH_CLIENT_ID,
                client_secret=settings.GOOGLE_OAUTH_CLIENT_SECRET,
            ),
            scopes=("openid", "email", GOOGLE_MAIL_SCOPE),
            refresh_scope="",  # Google's refreshed token keeps the scopes of the grant
            consent_params={"access_type": "offline", "prompt": "consent"},
            imap=_server(settings.GOOGLE_IMAP_HOST, settings.GOOGLE_IMAP_PORT),
            smtp=_server(settings.GOOGLE_SMTP_HOST, settings.GOOGLE_SMTP_PORT),
        )
    if name == MICROSOFT:
        return OAuthProvider(
            name=MICROSOFT,
            authorize_url=settings.MICROSOFT_OAUTH_AUTHORIZE_URL,
            endpoints=Endpoints(
                token_url=settings.MICROSOFT_OAUTH_TOKEN_URL,
                userinfo_url=settings.MICROSOFT_OAUTH_USERINFO_URL,
                client_id=settings.MICROSOFT_OAUTH_CLIENT_ID,
                client_secret=settings.MICROSOFT_OAUTH_CLIENT_SECRET,
            ),
            scopes=("openid", "email", "offline_access", *MICROSOFT_MAIL_SCOPES),
            refresh_scope=" ".join(("offline_access", *MICROSOFT_MAIL_SCOPES)),
            consent_params={},  # offline_access, among the scopes, is Microsoft's way
            imap=_server(settings.MICROSOFT_IMAP_HOST, settings.MICROSOFT_IMAP_PORT),
            smtp=_server(settings.MICROSOFT_SMTP_HOST, settings.MICROSOFT_SMTP_PORT),
        )
    raise ValueError(f"no OAuth provider {name!r}")


def _server(host: str, port: int) -> Server:
    # STARTTLS on the ports made for it (IMAP 143, submission 587, SMTP 25), implicit TLS on
    # every other (993, 465, or an operator's own), as RFC 8314 prefers.
    return Server(host, port, "starttls" if port in (143, 587, 25) else "ssl")
