from allauth.socialaccount.providers.microsoft.provider import MicrosoftGraphProvider

from mailsync.oauth.microsoft.views import MicrosoftMailAdapter
from mailsync.oauth.providers import MICROSOFT, oauth_provider


class MicrosoftMailProvider(MicrosoftGraphProvider):
    """allauth's Microsoft provider (its id and SocialApp) with our adapter and the mail scopes."""

    oauth2_adapter_class = MicrosoftMailAdapter
    package = "mailsync.oauth.microsoft"

    def get_default_scope(self):
        return list(oauth_provider(MICROSOFT).scopes)

    def extract_uid(self, data):
        return str(data["sub"])

    def extract_common_fields(self, data):
        return {"email": data.get("email")}


provider_classes = [MicrosoftMailProvider]
