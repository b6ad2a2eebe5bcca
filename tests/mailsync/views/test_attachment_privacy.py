"""Attachments are never public: MEDIA_ROOT is served by no URL, not even with DEBUG on (what
`make run` uses), stored names can be neither guessed nor read, and the access-checked download
is the only way to an attachment. Real mail, synced from Dovecot."""

import importlib
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import Resolver404, clear_url_caches, resolve

import crm.urls
from mailsync.models import Attachment
from mailsync.sync.run import account_sync

pytestmark = pytest.mark.django_db

PAGE = b"<script>fetch('/contacts/export/').then(r => r.text()).then(steal)</script>"
STORED_NAME = re.compile(r"attachments/[0-9a-f]{2}/[0-9a-f]{40}")


def mail_with_attachment(*, filename: str, data: bytes) -> bytes:
    message = EmailMessage()
    message["Subject"] = "The page you asked for"
    message["From"] = "Ann <ann@acme.com>"
    message["To"] = "alice@ourco.example"
    message["Message-ID"] = make_msgid(domain="acme.com")
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content("See the attachment.")
    message.add_attachment(data, maintype="text", subtype="html", filename=filename)
    return bytes(message)


@pytest.fixture
def stored(dovecot, mail_user, account):
    """Two messages from Ann with the same file, "invoice.html", synced into Alice's mailbox."""
    for _ in range(2):
        dovecot.append(
            mail_user.login, "INBOX", mail_with_attachment(filename="invoice.html", data=PAGE)
        )
    result = account_sync(account=account)
    assert result.error is None, result
    attachments = list(Attachment.objects.filter(filename="invoice.html").order_by("pk"))
    assert len(attachments) == 2
    return attachments


@pytest.fixture
def debug_urls():
    """The URLs as `make run` builds them: crm/urls.py reads DEBUG when it is imported."""
    with override_settings(DEBUG=True):
        importlib.reload(crm.urls)
        clear_url_caches()
        yield
    importlib.reload(crm.urls)
    clear_url_caches()


def test_stored_names_say_nothing_and_differ_for_the_same_file(stored):
    first, second = stored
    for attachment in stored:
        name = attachment.file.name
        assert STORED_NAME.fullmatch(name), name
        # attachments/<the token's first two digits>/<the token>: no message id, no file name.
        assert name.split("/")[1] == name.split("/")[2][:2]
        assert "invoice" not in name and ".html" not in name
        assert (settings.MEDIA_ROOT / name).read_bytes() == PAGE
    assert first.file.name != second.file.name
    assert first.message_id != second.message_id


def test_with_debug_on_no_url_serves_the_media_folder(stored, debug_urls, alice):
    name = stored[0].file.name
    url = f"{settings.MEDIA_URL}{name}"
    with pytest.raises(Resolver404):
        resolve(url)
    signed_in = Client()
    signed_in.force_login(alice)
    with override_settings(DEBUG=True):
        for client in (Client(), signed_in):
            response = client.get(url)
            assert response.status_code == 404
            assert PAGE not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_the_download_view_still_gives_the_file_as_a_download(stored, alice_client):
    attachment = stored[0]
    response = alice_client.get(f"/mail/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PAGE
    assert response["Content-Disposition"] == 'attachment; filename="invoice.html"'
    assert response["Content-Type"] == "application/octet-stream"  # never run as a page


def test_someone_else_gets_no_download(stored, charlie_client):
    assert charlie_client.get(f"/mail/attachments/{stored[0].pk}/").status_code == 404
