from allauth.socialaccount.providers.google.provider import GoogleProvider

from mailsync.oauth.google.views import GoogleMailAdapter
from mailsync.oauth.providers import GOOGLE, oauth_provider


class GoogleMailProvider(GoogleProvider):
    """allauth's Google provider (its id, account data and SocialApp), with our adapter and the
    mail scopes; offline access with consent asked every time, or Google sends no refresh
    token on a second connection."""

    oauth2_adapter_class = GoogleMailAdapter
    package = "mailsync.oauth.google"

    def get_default_scope(self):
        return list(oauth_provider(GOOGLE).scopes)

    def get_auth_params(self):
        return {"access_type": "offline", "prompt": "consent", **super().get_auth_params()}


provider_classes = [GoogleMailProvider]
