import json
import sys

from django.core.management.base import BaseCommand, CommandError

from mailsync.accounts.services import ConnectionSettings, connection_check
from mailsync.errors import code_info
from mailsync.management.commands._output import error_line, stage_line
from mailsync.models import MailAccount


class Command(BaseCommand):
    help = "Run the staged connection test for an existing account (nothing is changed)."

    def add_arguments(self, parser):
        parser.add_argument("address", help="the account's email address")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, address, **options):
        account = MailAccount.objects.filter(email__iexact=address).first()
        if account is None:
            raise CommandError(f"no mail account {address!r}")
        if not account.secret_ciphertext:
            raise CommandError(f"{address} is disconnected: its password was removed")
        conn = ConnectionSettings.from_account(account)
        results = list(connection_check(conn))
        failed = next((r for r in results if not r.ok), None)
        if options["json"]:
            payload = {
                "email": account.email,
                "ok": failed is None,
                "stages": [r.__dict__ for r in results],
                "error": None
                if failed is None
                else {
                    "code": failed.code,
                    "server_words": failed.detail,
                    "help": str(code_info(failed.code).help),
                },
            }
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            for result in results:
                self.stdout.write(stage_line(result))
            if failed:
                self.stdout.write(error_line(failed.code))
            else:
                self.stdout.write("all stages passed")
        if failed:
            sys.exit(1)
