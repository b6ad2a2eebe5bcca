"""The operators' admin for mail: every page opens, no page shows a secret or a message's
content, change lists cost a fixed number of queries, and the actions call the services."""

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from mailsync.accounts import services as account_services
from mailsync.accounts.services import account_disconnect
from mailsync.models import MailAccount, MailFolder, Message, OAuthGrant, SkipEntry, SyncRun
from tests.factories import MailAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

MAILSYNC_ADMINS = [model for model in admin.site._registry if model._meta.app_label == "mailsync"]
SECRET = "hunter2-correct-horse-battery"
SUBJECT = "Quarterly pricing for ACME, confidential"
BODY = "Our best price is 42k, do not forward"


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def make_account(n: int) -> MailAccount:
    user = UserFactory(username=f"rep{n}", email=f"rep{n}@ourco.example")
    account = MailAccountFactory(
        user=user,
        secret=SECRET,
        status=MailAccount.Status.ERROR if n % 2 else MailAccount.Status.CONNECTED,
        error_code="imap_auth_failed" if n % 2 else "",
    )
    inbox = MailFolder.objects.create(
        account=account, role="inbox", name="INBOX", uidvalidity=7, last_uid=10 + n
    )
    MailFolder.objects.create(account=account, role="sent", name="Sent", uidvalidity=8, last_uid=5)
    SyncRun.objects.create(account=account, outcome="ok", imported=3, skipped=1)
    message = Message.objects.create(
        key=f"mid:<m{n}@ourco.example>",
        message_id=f"<m{n}@ourco.example>",
        subject=f"{SUBJECT} #{n}",
        text=BODY,
        html=f"<p>{BODY}</p>",
        snippet=BODY,
        from_address="buyer@acme.example",
        date=datetime(2026, 3, 1, tzinfo=UTC),
        size=1234,
        recipient_count=150,
        headers_only=True,
        skip_code="too_many_recipients",
    )
    SkipEntry.objects.create(
        account=account,
        source="imap",
        folder=inbox,
        uid=n,
        code="too_many_recipients",
        message=message,
        subject=f"{SUBJECT} #{n}",
        header_message_id=message.message_id,
        from_address="buyer@acme.example",
    )
    return account


@pytest.fixture
def operator(db):
    return UserFactory(username="op", is_staff=True, is_superuser=True)


@pytest.fixture
def op_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def rows(db):
    return [make_account(n) for n in range(3)]


def test_every_mailsync_admin_page_opens_and_shows_no_secret(op_client, rows):
    assert {MailAccount, SyncRun, SkipEntry, Message} <= set(MAILSYNC_ADMINS)
    ciphertext = rows[0].secret_ciphertext
    for model in MAILSYNC_ADMINS:
        obj = model.objects.first()
        pages = [
            _url(model, "changelist"),
            _url(model, "changelist") + "?q=acme",
            _url(model, "change", obj.pk),
            _url(model, "history", obj.pk),
        ]
        for url in pages:
            response = op_client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            assert SECRET not in html and ciphertext not in html, url
            assert ciphertext[:20] not in html and "secret_ciphertext" not in html, url


def test_message_pages_show_metadata_never_content(op_client, rows):
    message = Message.objects.first()
    for url in [
        _url(Message, "changelist"),
        _url(Message, "change", message.pk),
        _url(Message, "history", message.pk),
    ]:
        html = op_client.get(url).content.decode()
        assert SUBJECT not in html and BODY not in html, url
        assert escape(message.key) in html, url  # named by its key, not its subject
    html = op_client.get(_url(Message, "change", message.pk)).content.decode()
    assert "buyer@acme.example" in html and "too_many_recipients" in html
    assert SUBJECT in str(Message.objects.get(pk=message.pk))  # untouched in the database


def test_no_admin_page_of_mail_shows_a_subject_or_a_body(op_client, rows):
    for model in MAILSYNC_ADMINS:
        obj = model.objects.first()
        pages = [
            _url(model, "changelist"),
            _url(model, "changelist") + "?q=acme",
            _url(model, "change", obj.pk),
            _url(model, "history", obj.pk),
        ]
        for url in pages:
            html = op_client.get(url).content.decode()
            for content in [SUBJECT, BODY, "Quarterly pricing", "best price"]:
                assert content not in html and escape(content) not in html, (url, content)


def test_no_admin_search_of_mail_looks_into_subjects_or_bodies(op_client, rows):
    for model in MAILSYNC_ADMINS:
        for words in ["Quarterly", "confidential", "forward"]:
            response = op_client.get(_url(model, "changelist") + f"?q={words}")
            assert response.status_code == 200
            assert response.context["cl"].result_count == 0, (model, words)


def test_the_skip_ledger_lists_codes_senders_and_filters(op_client, rows):
    response = op_client.get(_url(SkipEntry, "changelist") + "?code=too_many_recipients")
    assert response.context["cl"].result_count == 3
    html = response.content.decode()
    assert "rep0@ourco.example" in html and "buyer@acme.example" in html
    entry = SkipEntry.objects.get(uid=1)
    html = op_client.get(_url(SkipEntry, "change", entry.pk)).content.decode()
    assert "too_many_recipients" in html and escape(entry.header_message_id) in html
    found = op_client.get(_url(SkipEntry, "changelist") + f"?q={entry.header_message_id}")
    assert list(found.context["cl"].result_list) == [entry]  # found by its Message-ID


def _changelist_queries(op_client) -> dict:
    counts = {}
    for model in MAILSYNC_ADMINS:
        op_client.get(_url(model, "changelist"))  # warm caches (content types, the session)
        with CaptureQueriesContext(connection) as queries:
            assert op_client.get(_url(model, "changelist")).status_code == 200
        counts[model.__name__] = len(queries)
    return counts


def test_change_lists_cost_the_same_queries_for_more_rows(op_client):
    make_account(0)
    few = _changelist_queries(op_client)
    for n in range(1, 6):
        make_account(n)
    assert _changelist_queries(op_client) == few


def test_the_pin_is_editable_and_validated(op_client, rows):
    account = rows[0]
    url = _url(MailAccount, "change", account.pk)
    pin = "AB:" * 31 + "AB"
    response = op_client.post(url, {"tls_pin_sha256": "not-a-pin", "sent_folder_name": ""})
    assert response.status_code == 200 and b"64 hexadecimal digits" in response.content
    management = {
        "folders-TOTAL_FORMS": "2",
        "folders-INITIAL_FORMS": "2",
        "folders-MIN_NUM_FORMS": "0",
        "folders-MAX_NUM_FORMS": "1000",
    }
    response = op_client.post(
        url, {"tls_pin_sha256": pin, "sent_folder_name": "Posta inviata", **management}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.tls_pin_sha256 == "ab" * 32 and account.sent_folder_name == "Posta inviata"
    assert account.secret == SECRET  # saving the page leaves the secret alone


def test_there_is_no_way_to_add_or_delete_accounts(op_client, rows):
    assert op_client.get(_url(MailAccount, "add")).status_code == 403
    assert op_client.get(_url(MailAccount, "delete", rows[0].pk)).status_code == 403
    assert op_client.get(_url(Message, "add")).status_code == 403


def _act(op_client, action, accounts):
    return op_client.post(
        _url(MailAccount, "changelist"),
        {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [a.pk for a in accounts]},
        follow=True,
    )


def test_actions_call_the_services(
    op_client, rows, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(
        account_services, "enqueue_sync", lambda account_id: calls.append(account_id)
    )
    first, second, third = rows

    with django_capture_on_commit_callbacks(execute=True):
        response = _act(op_client, "sync_now", [first, second])
    assert b"A sync was requested for 2 accounts." in response.content
    assert sorted(calls) == sorted([first.pk, second.pk])

    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _act(op_client, "resync_from_scratch", [third])
    assert calls == [third.pk]
    assert list(third.folders.values_list("uidvalidity", "last_uid")) == [(None, 0), (None, 0)]
    assert first.folders.get(role="inbox").last_uid == 10  # the others are untouched

    _act(op_client, "disable", [first])
    first.refresh_from_db()
    assert first.status == MailAccount.Status.DISABLED and first.next_sync_at is None

    calls.clear()
    account_disconnect(account=second)
    with django_capture_on_commit_callbacks(execute=True):
        response = _act(op_client, "enable", [first, second])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == MailAccount.Status.CONNECTED and first.next_sync_at is not None
    assert calls == [first.pk]
    assert second.status == MailAccount.Status.DISCONNECTED  # no password: the rep reconnects
    assert b"1 account has no password" in response.content


def test_a_google_mailboxs_grant_shows_its_state_never_its_tokens(op_client, rows):
    account = rows[0]
    account.auth = "google"
    account.secret = "1//refresh-token-in-clear"
    account.save()
    grant = OAuthGrant(account=account, subject="1078", scope="https://mail.google.com/")
    grant.access_token = "ya29.access-token-in-clear"
    grant.save()

    html = op_client.get(_url(MailAccount, "change", account.pk)).content.decode()

    assert "https://mail.google.com/" in html and "1078" in html
    for secret in (
        "refresh-token-in-clear",
        "access-token-in-clear",
        grant.access_token_ciphertext,
    ):
        assert secret not in html
