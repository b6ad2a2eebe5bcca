import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mailsync.accounts.services import ConnectionSettings, account_connect
from mailsync.management.commands._output import error_line, stage_line
from mailsync.transport.imap import Server


class Command(BaseCommand):
    help = (
        "Connect a user's mailbox over IMAP and SMTP: runs the staged connection test and saves "
        "the account only if every stage passes. The password is read from standard input."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the user name (or email) of the rep")
        parser.add_argument("--email", required=True)
        parser.add_argument("--imap-host", required=True)
        parser.add_argument("--imap-port", type=int, required=True)
        parser.add_argument("--imap-security", choices=["ssl", "starttls"], required=True)
        parser.add_argument("--smtp-host", required=True)
        parser.add_argument("--smtp-port", type=int, required=True)
        parser.add_argument("--smtp-security", choices=["ssl", "starttls"], required=True)
        parser.add_argument("--login", help="the IMAP/SMTP user name (default: the email address)")
        parser.add_argument("--history-days", type=int, default=90, choices=[0, 30, 90, 180, 365])
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            required=True,
            help="read the password from stdin",
        )

    def handle(self, *args, **options):
        User = get_user_model()
        who = options["username"]
        user = (
            User.objects.filter(username=who).first()
            or User.objects.filter(email__iexact=who).first()
        )
        if user is None:
            raise CommandError(f"no user {who!r}")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        conn = ConnectionSettings(
            email=options["email"],
            login=options["login"] or options["email"],
            password=password,
            imap=Server(options["imap_host"], options["imap_port"], options["imap_security"]),
            smtp=Server(options["smtp_host"], options["smtp_port"], options["smtp_security"]),
            history_days=options["history_days"],
        )
        account, results = account_connect(user=user, conn=conn)
        for result in results:
            self.stdout.write(stage_line(result))
        if account is None:
            failed = next((r for r in results if not r.ok), None)
            self.stdout.write(error_line(failed.code if failed else "server_error"))
            sys.exit(1)
        self.stdout.write(
            f"connected {account.email} for {user.get_username()}; the first sync is queued"
        )
