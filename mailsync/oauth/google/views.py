from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView

from mailsync.oauth.social import MailOAuth2Adapter


class GoogleMailAdapter(MailOAuth2Adapter):
    provider_id = "google"


oauth2_login = OAuth2LoginView.adapter_view(GoogleMailAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(GoogleMailAdapter)
