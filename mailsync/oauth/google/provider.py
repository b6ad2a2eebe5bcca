from allauth.socialaccount.providers.google.provider import GoogleProvider

from mailsync.oauth.google.views import GoogleMailAdapter


class GoogleMailProvider(GoogleProvider):
    """allauth's Google provider (its id, account data and SocialApp) with our adapter. Signing
    in asks for who the person is only; connecting a mailbox asks for the mail scopes itself
    (mailsync.views.oauth)."""

    oauth2_adapter_class = GoogleMailAdapter
    package = "mailsync.oauth.google"

    def get_default_scope(self):
        return ["openid", "email"]


provider_classes = [GoogleMailProvider]
