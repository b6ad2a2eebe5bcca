from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from mailsync.oauth.google.provider import GoogleMailProvider

urlpatterns = default_urlpatterns(GoogleMailProvider)
