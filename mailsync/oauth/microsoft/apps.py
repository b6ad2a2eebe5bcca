from django.apps import AppConfig


class MicrosoftMailConfig(AppConfig):
    name = "mailsync.oauth.microsoft"
    label = "mailsync_microsoft"
    verbose_name = "Microsoft 365 mailboxes"
