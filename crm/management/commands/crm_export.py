"""`python manage.py crm_export KIND [--user USERNAME_OR_EMAIL] [-o FILE]`

Writes the records as CSV, in the columns `crm_import` reads back. Without --user every record
is exported (an operator's backup); with it, only what that user may see.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from crm.csv_io import KINDS, MODELS, export_csv
from crm.management.commands.crm_import import find_user
from crm.selectors import records_for_user


class Command(BaseCommand):
    help = "Export leads, contacts, companies or deals as CSV."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--user", help="export only what this user (username or email) may see")
        parser.add_argument("-o", "--output", help="write to this file instead of standard output")

    def handle(self, *args, kind, user=None, output=None, **options):
        model = MODELS[kind]
        if user:
            queryset = records_for_user(model=model, user=find_user(user))
        else:
            queryset = model.objects.all()
        lines = export_csv(kind, queryset)
        if not output:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as target:
                count = -1  # the header
                for line in lines:
                    target.write(line)
                    count += 1
        except OSError as exc:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": exc.strerror}
            ) from None
        self.stderr.write(
            _("%(count)d records written to %(file)s.") % {"count": count, "file": output}
        )
