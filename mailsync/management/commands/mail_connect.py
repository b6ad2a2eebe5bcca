import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from mailsync.accounts.forms import connection_clean
from mailsync.accounts.services import ConnectionSettings, account_connect
from mailsync.errors import CATALOG
from mailsync.management.commands._output import error_line, stage_line
from mailsync.transport.credentials import Password
from mailsync.transport.imap import Server

# Exit codes: 0 connected; 1 not connected: a setting the mailbox form would refuse (printed as
# "error: ..." lines), no such user, no password, or a failed stage of the connection test.
# (2 is argparse's, for an unknown option or a value not among the choices.)
NOT_CONNECTED = 1


SETTINGS = [
    "email",
    "login",
    "imap_host",
    "imap_port",
    "imap_security",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "history_days",
]


def _invalid_line(name: str, error: ValidationError) -> str:
    """A refused setting: a catalogue code (pop3_not_supported) as every error line says it,
    else the form's words; either with the option that has it."""
    option = "--" + name.replace("_", "-")
    if error.code in CATALOG:
        return f"{error_line(error.code)} ({option})"
    return f"error: {option}: {' '.join(error.messages)}"


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
            raise CommandError(f"no user {who!r}", returncode=NOT_CONNECTED)
        try:
            # The mailbox form's rules: the same refusals, in the same words.
            data = connection_clean({name: options[name] for name in SETTINGS})
        except ValidationError as error:
            for name, errors in error.error_dict.items():
                for item in errors:
                    self.stdout.write(_invalid_line(name, item))
            sys.exit(NOT_CONNECTED)
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input", returncode=NOT_CONNECTED)
        conn = ConnectionSettings(
            email=data["email"],
            credentials=Password(data["login"], password),
            imap=Server(data["imap_host"], data["imap_port"], data["imap_security"]),
            smtp=Server(data["smtp_host"], data["smtp_port"], data["smtp_security"]),
            history_days=data["history_days"],
        )
        account, results = account_connect(user=user, conn=conn)
        for result in results:
            self.stdout.write(stage_line(result))
        if account is None:
            failed = next((r for r in results if not r.ok), None)
            self.stdout.write(error_line(failed.code if failed else "server_error"))
            sys.exit(NOT_CONNECTED)
        self.stdout.write(
            f"connected {account.email} for {user.get_username()}; the first sync is queued"
        )
