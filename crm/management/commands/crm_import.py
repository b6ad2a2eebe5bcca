"""`python manage.py crm_import KIND FILE.csv [--user USERNAME_OR_EMAIL]`

Exit status: 0 if every row was imported, 1 if some rows were not (the good ones are imported
and each bad one is printed on stderr as `line N: reason`), 2 if nothing was imported (the file
was refused as a whole, or the user does not exist).
"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.csv_io import KINDS, ImportRejected, import_csv
from crm.models import User


def find_user(value: str | None) -> User:
    """The user named by username or email address, or by default the first superuser."""
    if value:
        user = (
            User.objects.filter(Q(username=value) | Q(email__iexact=value)).order_by("pk").first()
        )
        if user is None:
            raise CommandError(_("No user “%(user)s”.") % {"user": value}, returncode=2)
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError(
            _("There is no superuser to import as: name a user with --user."), returncode=2
        )
    return user


class Command(BaseCommand):
    help = "Import leads, contacts, companies or deals from a CSV file."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("file", help="the CSV file, or - for standard input")
        parser.add_argument(
            "--user",
            help="username or email of the importing user, who owns the new records "
            "(default: the first superuser)",
        )

    def handle(self, *args, kind, file, user=None, **options):
        importer = find_user(user)
        try:
            if file == "-":
                result = import_csv(kind, sys.stdin.buffer, user=importer)
            else:
                with open(file, "rb") as source:
                    result = import_csv(kind, source, user=importer)
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": file, "error": exc.strerror},
                returncode=2,
            ) from None
        except ImportRejected as exc:
            raise CommandError(exc.message, returncode=2) from None

        self.stdout.write(
            _("%(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
            % {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        )
        if result.companies_created:
            count = result.companies_created
            self.stdout.write(
                ngettext(
                    "%(count)d company created for them.",
                    "%(count)d companies created for them.",
                    count,
                )
                % {"count": count}
            )
        if result.ignored_columns:
            self.stdout.write(
                _("Columns ignored: %(columns)s.") % {"columns": ", ".join(result.ignored_columns)}
            )
        for line, message in result.errors:
            self.stderr.write(_("line %(line)d: %(message)s") % {"line": line, "message": message})
        if result.errors:
            count = len(result.errors)
            raise CommandError(
                ngettext(
                    "%(count)d row was not imported.", "%(count)d rows were not imported.", count
                )
                % {"count": count},
                returncode=1,
            )
