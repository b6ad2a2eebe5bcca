"""What the two django-allauth providers of mailboxes share: endpoints read from the settings at
each request (allauth's own Google adapter reads them once, at import), and the person the
provider vouches for, always from its userinfo endpoint with a verified address, so that a token
answer without an id_token works the same."""

from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter
from django.conf import settings

from mailsync.errors import MailError
from mailsync.oauth.providers import oauth_provider
from mailsync.transport.oauth import userinfo


class MailOAuth2Adapter(OAuth2Adapter):
    """An allauth OAuth2 adapter whose URLs are `mailsync.oauth.providers`' (the settings)."""

    @property
    def authorize_url(self) -> str:
        return oauth_provider(self.provider_id).authorize_url

    @property
    def access_token_url(self) -> str:
        return oauth_provider(self.provider_id).endpoints.token_url

    def identity(self, access_token: str) -> dict:
        """The userinfo of the token's owner; OAuth2Error (allauth's "sign-in failed" page)
        unless it names a verified address."""
        try:
            data = userinfo(
                oauth_provider(self.provider_id).endpoints,
                access_token,
                timeout=settings.MAILSYNC_TIMEOUT,
            )
        except MailError as error:
            raise OAuth2Error(f"userinfo: {error}") from error
        email = str(data.get("email") or "").strip().lower()
        if not email or data.get("email_verified") in (False, "false"):
            raise OAuth2Error("the provider vouches for no verified email address")
        if not data.get("sub"):
            raise OAuth2Error("the provider's userinfo names no user id")
        return {**data, "email": email, "email_verified": True}

    def complete_login(self, request, app, token, **kwargs):
        data = self.identity(token.token)
        return self.get_provider().sociallogin_from_response(request, data)
