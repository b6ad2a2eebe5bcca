import json

from django.core.management.base import BaseCommand, CommandError

from mailsync.models import MailAccount
from mailsync.selectors.status import account_status


class Command(BaseCommand):
    help = "Status of mail accounts: error code, folders (UIDVALIDITY, last UID), counts."

    def add_arguments(self, parser):
        parser.add_argument("address", nargs="?", help="one account's email address (default: all)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, address, **options):
        accounts = MailAccount.objects.select_related("user").order_by("email")
        if address:
            accounts = accounts.filter(email__iexact=address)
            if not accounts:
                raise CommandError(f"no mail account {address!r}")
        statuses = [account_status(account=a) for a in accounts]
        if options["json"]:
            self.stdout.write(json.dumps(statuses[0] if address else statuses, indent=2))
            return
        for s in statuses:
            self.stdout.write(f"{s['email']} ({s['user']}): {s['status']}")
            if s["error"]:
                e = s["error"]
                self.stdout.write(f"  error {e['code']} at {e['stage']}: {e['server_words']}")
                self.stdout.write(f"  {e['help']}")
            self.stdout.write(
                f"  last sync {s['last_sync'] or 'never'}, next {s['next_sync'] or '-'}"
            )
            for f in s["folders"]:
                position = f"UIDVALIDITY {f['uidvalidity']}, last UID {f['last_uid']}"
                self.stdout.write(f"  {f['role']:<6} {f['name']}: {position}")
            skipped = ", ".join(f"{code} {n}" for code, n in sorted(s["skipped"].items())) or "none"
            self.stdout.write(f"  imported {s['imported']}, skipped: {skipped}")
