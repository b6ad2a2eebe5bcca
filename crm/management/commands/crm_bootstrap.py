"""`manage.py crm_bootstrap`: what `make run` does on every start, after migrating.

1. Loads the demo data (`crm_demo`), once: not if the database already holds CRM records or the
   demo users (`--no-demo` skips it altogether).
2. Creates a superuser if there is none, with a random password printed this one time and a
   verified email address, so that it can sign in to the app as well as to the admin. It joins
   the demo team, so that the demo records show in the app.

Running it again only prints a reminder of how to sign in.
"""

import secrets

from allauth.account.models import EmailAddress as AccountEmailAddress
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from crm.management.commands.crm_demo import DEMO_TEAM, demo_is_loaded
from crm.models import MANAGER_GROUP, Company, Contact, Deal, Lead, Team, User

ADMIN_USERNAME = "admin"


def crm_has_records() -> bool:
    return any(model.objects.exists() for model in (Company, Contact, Lead, Deal))


class Command(BaseCommand):
    help = "Create the first superuser and load the demo data, once each (run by `make run`)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--email",
            default="admin@localhost",
            help="Email address of the superuser, if one is created (default: admin@localhost).",
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="Where the app runs, for the sign-in instructions.",
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")

    def handle(self, *args, email, url, no_demo, **options):
        email = email.strip().lower()
        url = url.rstrip("/") + "/"

        demo_loaded_now = False
        if no_demo:
            pass
        elif demo_is_loaded() or crm_has_records():
            if options["verbosity"] >= 2:
                self.stdout.write(_("The database already has CRM data: no demo data loaded."))
        else:
            call_command("crm_demo", stdout=self.stdout, stderr=self.stderr)
            demo_loaded_now = True

        with transaction.atomic():
            admin, password = self.ensure_superuser(email)
            team = Team.objects.filter(name=DEMO_TEAM).first()
            if team and (password or demo_loaded_now):
                User.objects.filter(is_superuser=True, team__isnull=True).update(team=team)

        if password:
            self.print_credentials(admin, password, url)
        else:
            self.stdout.write(
                _(
                    "Superuser: %(email)s. Sign in at %(url)s or %(url)sadmin/ "
                    "(lost the password? `manage.py changepassword %(username)s`)."
                )
                % {"url": url, "email": admin.email or admin.username, "username": admin.username}
            )

    def ensure_superuser(self, email: str) -> tuple[User, str]:
        """The first superuser, and its password if it was created just now (else "")."""
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            return existing, ""
        if User.objects.filter(username=ADMIN_USERNAME).exists():
            raise CommandError(
                _(
                    "There is no superuser, and a user named “%(username)s” already exists: "
                    "make one with `manage.py createsuperuser`."
                )
                % {"username": ADMIN_USERNAME}
            )
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(
                _("“%(email)s” is not a valid email address.") % {"email": email}
            ) from None
        if (
            User.objects.filter(email__iexact=email).exists()
            or AccountEmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise CommandError(
                _(
                    "There is no superuser, and a user with the address %(email)s already "
                    "exists: choose another one with --email."
                )
                % {"email": email}
            )
        password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(
            username=ADMIN_USERNAME, email=email, password=password
        )
        admin.groups.add(Group.objects.get_or_create(name=MANAGER_GROUP)[0])
        # allauth signs people in by a verified address.
        AccountEmailAddress.objects.create(user=admin, email=email, verified=True, primary=True)
        return admin, password

    def print_credentials(self, admin: User, password: str, url: str) -> None:
        rule = "=" * 72
        lines = [
            rule,
            _("A superuser was created. Sign in with:"),
            "",
            "  " + _("App:") + f"       {url}",
            "  " + _("Admin:") + f"     {url}admin/",
            "  " + _("Email:") + f"     {admin.email}",
            "  " + _("Username:") + f"  {admin.username}  " + _("(the admin accepts either)"),
            "  " + _("Password:") + f"  {password}",
            "",
            _("The password is shown only this once: change it after signing in."),
            rule,
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
