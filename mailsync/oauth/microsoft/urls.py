from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from mailsync.oauth.microsoft.provider import MicrosoftMailProvider

urlpatterns = default_urlpatterns(MicrosoftMailProvider)
