from django.core.management.base import BaseCommand, CommandError

from mailsync import secrets
from mailsync.models import MailAccount, OAuthGrant


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored mailbox secret (passwords, OAuth refresh and access tokens) with "
        "the first key of MAILSYNC_SECRET_KEYS. Rotate by putting a new key first, running this, "
        "then removing the old key."
    )

    def handle(self, *args, **options):
        rotated, unreadable = 0, []
        for model, field, owner in (
            (MailAccount, "secret_ciphertext", "email"),
            (OAuthGrant, "access_token_ciphertext", "account__email"),
        ):
            for pk, ciphertext, email in (
                model.objects.exclude(**{field: ""}).values_list("pk", field, owner).iterator()
            ):
                try:
                    model.objects.filter(pk=pk).update(**{field: secrets.rotate(ciphertext)})
                except secrets.SecretUnreadable:
                    unreadable.append(email)
                    continue
                rotated += 1
        self.stdout.write(f"re-encrypted {rotated} secret(s) with the first key")
        if unreadable:
            raise CommandError(
                "no configured key opens the secrets of: "
                + ", ".join(sorted(set(unreadable)))
                + " (put the old key back in MAILSYNC_SECRET_KEYS, or have them connect again)"
            )
