import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from mailsync import secrets
from mailsync.models import MailAccount
from tests.factories import MailAccountFactory

pytestmark = pytest.mark.django_db

OLD = "old-key-" + "o" * 40
NEW = "new-key-" + "n" * 40


@pytest.fixture
def account(alice, settings):
    settings.MAILSYNC_SECRET_KEYS = [OLD]
    return MailAccountFactory(user=alice, email="alice@x.example", secret="hunter2-app-password")


def test_a_database_dump_shows_no_secret(account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mailsync_mailaccount")
        dump = repr(cursor.fetchall())
    assert "hunter2" not in dump
    assert MailAccount.objects.get().secret == "hunter2-app-password"


def test_keys_rotate_without_losing_a_secret(account, settings, capsys):
    settings.MAILSYNC_SECRET_KEYS = [NEW, OLD]  # new key first; the old one still decrypts
    assert MailAccount.objects.get().secret == "hunter2-app-password"
    call_command("mail_rotate_keys")
    settings.MAILSYNC_SECRET_KEYS = [NEW]  # the old key is gone
    assert MailAccount.objects.get().secret == "hunter2-app-password"
    assert "re-encrypted 1 secret" in capsys.readouterr().out


def test_a_missing_key_is_reported_not_guessed(account, settings):
    settings.MAILSYNC_SECRET_KEYS = [NEW]
    with pytest.raises(secrets.SecretUnreadable):
        MailAccount.objects.get().secret  # noqa: B018
    with pytest.raises(CommandError, match="alice@x.example"):
        call_command("mail_rotate_keys")


def test_short_keys_are_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.MAILSYNC_SECRET_KEYS = ["short"]
    with pytest.raises(ImproperlyConfigured, match="shorter than 32"):
        secrets.encrypt("x")
