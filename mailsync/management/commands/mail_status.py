import json

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from mailsync.inbound.addresses import bcc_address_for
from mailsync.models import MailAccount
from mailsync.selectors.status import account_status


class Command(BaseCommand):
    help = "Status of mail accounts: error code, folders (UIDVALIDITY, last UID), counts."

    def add_arguments(self, parser):
        parser.add_argument(
            "address",
            nargs="?",
            help="one account: its email address, or its user's username or email (default: all)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, address, **options):
        accounts = MailAccount.objects.select_related("user").order_by("email")
        if address:
            accounts = accounts.filter(
                Q(email__iexact=address)
                | Q(user__username__iexact=address)
                | Q(user__email__iexact=address)
            )[:1]
            if not accounts:
                raise CommandError(f"no mail account {address!r}")
        statuses = []
        for account in accounts:
            status = account_status(account=account)
            bcc = bcc_address_for(user=account.user)
            status["bcc_address"] = bcc.address if bcc else None
            statuses.append(status)
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
            self.stdout.write(
                f"  BCC address: {s['bcc_address'] or 'none (no MAILSYNC_BCC_DOMAIN)'}"
            )
