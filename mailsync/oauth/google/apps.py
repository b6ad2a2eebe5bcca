from django.apps import AppConfig


class GoogleMailConfig(AppConfig):
    name = "mailsync.oauth.google"
    label = "mailsync_google"
    verbose_name = "Google mailboxes"
