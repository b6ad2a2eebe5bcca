import sys

from django.core.management.base import BaseCommand, CommandError

from mailsync.management.commands._output import error_line
from mailsync.models import MailAccount
from mailsync.sync.run import account_sync


class Command(BaseCommand):
    help = "Sync mail accounts now, in the foreground, with progress; prints counts at the end."

    def add_arguments(self, parser):
        parser.add_argument("addresses", nargs="*", help="email addresses of the accounts")
        parser.add_argument("--all", action="store_true", help="every connected account")

    def handle(self, *args, addresses, **options):
        if not addresses and not options["all"]:
            raise CommandError("name one or more accounts, or use --all")
        accounts = MailAccount.objects.exclude(secret_ciphertext="")
        if not options["all"]:
            accounts = accounts.filter(email__in=[a.lower() for a in addresses])
            missing = {a.lower() for a in addresses} - set(accounts.values_list("email", flat=True))
            if missing:
                raise CommandError("no connected mail account: " + ", ".join(sorted(missing)))
        failed = False
        if options["all"]:
            accounts = accounts.exclude(status=MailAccount.Status.DISABLED)
        for account in accounts.order_by("email"):
            self.stdout.write(f"{account.email}:")
            if account.status == MailAccount.Status.DISABLED:
                failed = True
                self.stderr.write(
                    f"  {account.email} is disabled: an operator must enable it (admin, mail "
                    'accounts, action "Enable") before it syncs again'
                )
                continue
            result = account_sync(account=account, progress=self._progress)
            self.stdout.write("")
            if not result.claimed:
                self.stdout.write("  another worker is syncing this account right now")
                continue
            if result.aborted:
                failed = True
                self.stderr.write("  the sync stopped before the end (disabled or disconnected)")
                continue
            self.stdout.write(f"  imported {result.imported}, already stored {result.duplicates}")
            for code, count in sorted(result.skipped.items()):
                self.stdout.write(f"  skipped {code}: {count}")
            if result.error:
                failed = True
                if result.error.server_words:
                    self.stdout.write(f"  server said: {result.error.server_words}")
                self.stdout.write("  " + error_line(result.error.code))
        if failed:
            sys.exit(1)

    def _progress(self, folder: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stdout.write(f"\r  {folder:<6} [{bar}] {done}/{total}", ending="")
        self.stdout.flush()
