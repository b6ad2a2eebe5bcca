"""Error and skip codes live in the catalogue (errors.py), not in database choices."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from mailsync import errors
from mailsync.models import MailAccount, SkipEntry


@pytest.mark.django_db
def test_a_new_catalogue_code_needs_no_migration(monkeypatch):
    code = errors.Code("oauth_new_thing", errors.CONNECTION, "New", "Do this.")
    monkeypatch.setitem(errors.CATALOG, "oauth_new_thing", code)
    # Exits with 1 (SystemExit) when a migration would be written.
    call_command("makemigrations", "mailsync", check=True, dry_run=True, verbosity=0)


@pytest.mark.django_db
def test_fields_accept_catalogue_codes_only(alice):
    account = MailAccount(user=alice, email="a@example.com", error_code="imap_auth_failed")
    account.clean_fields(exclude=["user", "login", "imap_host", "smtp_host"])
    account.error_code = "sync failed"
    with pytest.raises(ValidationError) as raised:
        account.clean_fields(exclude=["user", "login", "imap_host", "smtp_host"])
    assert list(raised.value.message_dict) == ["error_code"]
    entry = SkipEntry(account=account, code="not_a_code")
    with pytest.raises(ValidationError):
        entry.clean_fields(exclude=["account", "folder", "message"])
