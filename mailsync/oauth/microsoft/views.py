from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings

from mailsync.errors import MailError
from mailsync.oauth.providers import MICROSOFT, oauth_provider
from mailsync.oauth.social import MailOAuth2Adapter
from mailsync.transport.oauth import token_refresh


class MicrosoftMailAdapter(MailOAuth2Adapter):
    provider_id = MICROSOFT

    def complete_login(self, request, app, token, **kwargs):
        # The code gave a token for the mail servers (outlook.office.com), which the userinfo
        # endpoint (Microsoft Graph) refuses: ask for one for OpenID Connect's scopes alone.
        # Asking for both resources at once fails (AADSTS28000).
        provider = oauth_provider(MICROSOFT)
        if "outlook.office.com" not in str(kwargs.get("response", {}).get("scope", "")):
            # A sign-in to the CRM: the token is Graph's already.
            data = self.identity(token.token)
            return self.get_provider().sociallogin_from_response(request, data)
        try:
            identity = token_refresh(
                provider.endpoints,
                token.token_secret,
                scope="openid email",
                timeout=settings.MAILSYNC_TIMEOUT,
            )
        except MailError as error:
            raise OAuth2Error(f"token for userinfo: {error}") from error
        if identity.refresh_token:
            token.token_secret = identity.refresh_token  # Microsoft rotated it
        data = self.identity(identity.access_token)
        return self.get_provider().sociallogin_from_response(request, data)


oauth2_login = OAuth2LoginView.adapter_view(MicrosoftMailAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(MicrosoftMailAdapter)
