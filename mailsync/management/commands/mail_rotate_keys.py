from django.core.management.base import BaseCommand, CommandError

from mailsync import secrets
from mailsync.models import MailAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored mailbox secret with the first key of MAILSYNC_SECRET_KEYS. "
        "Rotate by putting a new key first, running this, then removing the old key."
    )

    def handle(self, *args, **options):
        rotated, unreadable = 0, []
        for account in MailAccount.objects.exclude(secret_ciphertext="").only(
            "pk", "email", "secret_ciphertext"
        ):
            try:
                account.secret_ciphertext = secrets.rotate(account.secret_ciphertext)
            except secrets.SecretUnreadable:
                unreadable.append(account.email)
                continue
            account.save(update_fields=["secret_ciphertext"])
            rotated += 1
        self.stdout.write(f"re-encrypted {rotated} secret(s) with the first key")
        if unreadable:
            raise CommandError(
                "no configured key opens the secrets of: "
                + ", ".join(unreadable)
                + " (put the old key back in MAILSYNC_SECRET_KEYS, or have them connect again)"
            )
