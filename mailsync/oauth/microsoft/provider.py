from allauth.account.models import EmailAddress
from allauth.socialaccount.providers.microsoft.provider import MicrosoftGraphProvider

from mailsync.oauth.microsoft.views import MicrosoftMailAdapter


class MicrosoftMailProvider(MicrosoftGraphProvider):
    """allauth's Microsoft provider (its id and SocialApp) with our adapter. Signing in asks for
    who the person is only; connecting a mailbox asks for the mail scopes itself."""

    oauth2_adapter_class = MicrosoftMailAdapter
    package = "mailsync.oauth.microsoft"

    def get_default_scope(self):
        return ["openid", "email"]

    def extract_uid(self, data):
        return str(data["sub"])

    def extract_common_fields(self, data):
        return {"email": data.get("email")}

    def extract_email_addresses(self, data):
        # MailOAuth2Adapter.identity accepts verified addresses only.
        return [EmailAddress(email=data["email"], verified=True, primary=True)]


provider_classes = [MicrosoftMailProvider]
