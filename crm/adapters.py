from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return settings.ACCOUNT_ALLOW_REGISTRATION

    def add_message(self, request, level, message_template=None, message_context=None, **kw):
        # Mailboxes are the only accounts reps connect at Google or Microsoft, and that flow
        # says what happened itself (mailsync/views/oauth.py): allauth's "The third-party
        # account has been connected" would only repeat it less precisely.
        if message_template == "socialaccount/messages/account_connected.txt":
            return
        super().add_message(request, level, message_template, message_context, **kw)
