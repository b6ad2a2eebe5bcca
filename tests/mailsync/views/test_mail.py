"""Mail on records, as each viewer may see it: the message page, attachments, the raw .eml and
the record page's mail section, tried by alice (the owner), bob (her teammate) and charlie
(another team) by guessing ids. Real mail, synced from Dovecot."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mailsync.models import Attachment, Message, Thread
from mailsync.sync.run import account_sync
from tests.factories import DealFactory
from tests.support.mail import ann_mail, deliver_raw, mailbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(dovecot, alice, bob, charlie, ann):
    """Alice's mailbox shares in full, one of her threads is private; Bob's shares metadata."""
    alices = mailbox(dovecot, alice)
    bobs = mailbox(dovecot, bob, sharing="metadata")
    deliver_raw(
        dovecot,
        alices,
        ann_mail(
            subject="Full-subject",
            body="full-body-text",
            message_id="<full@acme.com>",
            attachment=("quote.pdf", "application/pdf", b"%PDF full-attachment-bytes"),
        ),
    )
    deliver_raw(
        dovecot,
        alices,
        ann_mail(
            subject="Private-subject",
            body="private-body-text",
            message_id="<private@acme.com>",
            attachment=("secret.txt", "text/plain", b"private-attachment-bytes"),
        ),
    )
    deliver_raw(
        dovecot,
        bobs,
        ann_mail(
            subject="Meta-subject",
            body="meta-body-text",
            message_id="<meta@acme.com>",
            attachment=("page.html", "text/html", b"<b>meta-attachment-bytes</b>"),
        ),
    )
    messages = {m.message_id.split("@")[0]: m for m in Message.objects.all()}
    Thread.objects.filter(pk=messages["private"].thread_id).update(visibility="private")
    for m in messages.values():
        assert ann in {link.record for link in m.links.all()}
    return messages


# What each viewer may see of each message: None (404), "meta", "full".
MATRIX = {
    "alice": {"full": "full", "private": "full", "meta": "meta"},
    "bob": {"full": "full", "private": None, "meta": "full"},
    "charlie": {"full": None, "private": None, "meta": None},
}
OWNERS = {"full": "alice", "private": "alice", "meta": "bob"}
TYPES = {"full": "application/pdf", "private": "text/plain", "meta": "application/octet-stream"}


@pytest.mark.parametrize("viewer", ["alice", "bob", "charlie"])
def test_each_viewer_gets_exactly_what_the_level_allows(client, world, viewer, request, ann):
    client.force_login(request.getfixturevalue(viewer))
    record_page = client.get(ann.get_absolute_url())
    assert record_page.status_code == (404 if viewer == "charlie" else 200)
    record_html = record_page.content.decode()
    for name, message in world.items():
        level = MATRIX[viewer][name]
        subject, body = f"{name.title()}-subject", f"{name}-body-text"
        attachment = message.attachments.get()
        content = f"{name}-attachment-bytes".encode()

        page = client.get(f"/mail/messages/{message.pk}/")
        download = client.get(f"/mail/attachments/{attachment.pk}/")
        eml = client.get(f"/mail/messages/{message.pk}/eml/")
        if level is None:
            assert page.status_code == 404 and download.status_code == 404
            assert subject not in record_html
        else:
            assert page.status_code == 200
            text = page.content.decode()
            assert "ann@acme.com" in text
            assert (subject in text) == (level == "full")
            assert (body in text) == (level == "full")
            assert (subject in record_html) == (level == "full")
            if level == "meta":
                assert "(private)" in text and "(private)" in record_html
                assert download.status_code == 404
            else:
                assert download.status_code == 200
                assert content in b"".join(download.streaming_content)
                assert download["Content-Disposition"].startswith("attachment")
                assert download["X-Content-Type-Options"] == "nosniff"
                # Never text/html: an HTML attachment comes as octet-stream.
                assert download["Content-Type"] == TYPES[name]
            assert "Content-Security-Policy" in page
        assert body not in record_html or level == "full"
        if OWNERS[name] == viewer:
            assert eml.status_code == 200
            assert eml["Content-Type"] == "message/rfc822"
            assert eml["Content-Disposition"].startswith("attachment")
            assert subject.encode() in eml.content
        else:
            assert eml.status_code == 404


def test_html_attachments_download_as_octet_stream(client, world, bob):
    client.force_login(bob)
    attachment = Attachment.objects.get(filename="page.html")
    response = client.get(f"/mail/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")


def test_unknown_ids_are_404(alice_client):
    for url in ("/mail/messages/999999/", "/mail/attachments/999999/", "/mail/messages/9999/eml/"):
        assert alice_client.get(url).status_code == 404


def test_the_owner_makes_a_thread_private_and_teammates_lose_it(client, world, alice, bob):
    message = world["full"]
    client.force_login(bob)
    assert (
        client.post(
            f"/mail/threads/{message.thread_id}/visibility/", {"visibility": "private"}
        ).status_code
        == 404
    )  # only the owner may
    client.force_login(alice)
    client.post(f"/mail/threads/{message.thread_id}/visibility/", {"visibility": "private"})
    client.force_login(bob)
    assert client.get(f"/mail/messages/{message.pk}/").status_code == 404


def test_sharing_is_set_on_the_mailbox_page(client, dovecot, alice):
    account = mailbox(dovecot, alice)
    client.force_login(alice)
    assert "What my teammates see" in client.get("/mailbox/").content.decode()
    client.post("/mailbox/sharing/", {"sharing": "subject"})
    account.refresh_from_db()
    assert account.sharing == "subject"
    client.post("/mailbox/sharing/", {"sharing": "bogus"})
    account.refresh_from_db()
    assert account.sharing == "subject"


HOSTILE = (
    "<p>Hello-from-html</p><script>window.__pwned=1</script>"
    '<img src=x onerror="window.__pwned=1"><a href="javascript:alert(1)">click</a>'
    '<img src="https://tracker.example/pixel.png">'
)


def test_the_message_page_sanitizes_html_and_blocks_remote_images(client, dovecot, alice, ann):
    account = mailbox(dovecot, alice)
    deliver_raw(
        dovecot,
        account,
        ann_mail(subject="Hostile", body="t", message_id="<h@acme.com>", html=HOSTILE),
    )
    message = Message.objects.get(message_id="h@acme.com")
    client.force_login(alice)
    response = client.get(f"/mail/messages/{message.pk}/")
    text = response.content.decode()
    assert "Hello-from-html" in text
    assert "__pwned" not in text and "onerror" not in text and "javascript:" not in text
    assert " src=&quot;https://tracker.example" not in text
    assert "Show images" in text
    assert "https:" not in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    shown = client.get(f"/mail/messages/{message.pk}/?images=1")
    assert " src=&quot;https://tracker.example/pixel.png" in shown.content.decode()
    assert "img-src 'self' data: https:" in shown["Content-Security-Policy"]
    assert "__pwned" not in shown.content.decode()


def test_remove_from_the_message_page_keeps_replies_off_and_re_adding_brings_them_back(
    client, dovecot, alice, ann
):
    account = mailbox(dovecot, alice)
    deal = DealFactory(owner=alice, name="Renewal")
    deal.contacts.add(ann)
    deliver_raw(dovecot, account, ann_mail(subject="Hi", body="one", message_id="<r1@acme.com>"))
    first = Message.objects.get(message_id="r1@acme.com")
    assert first.links.filter(deal=deal).exists()
    client.force_login(alice)
    page = client.get(f"/mail/messages/{first.pk}/").content.decode()
    assert "Renewal" in page and "the contact&#x27;s only open deal" in page
    response = client.post(
        f"/mail/threads/{first.thread_id}/remove/",
        {"record": f"deal:{deal.pk}", "next": f"/mail/messages/{first.pk}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/mail/messages/{first.pk}/"
    deliver_raw(
        dovecot,
        account,
        ann_mail(
            subject="Re: Hi", body="two", message_id="<r2@acme.com>", in_reply_to="<r1@acme.com>"
        ),
    )
    reply = Message.objects.get(message_id="r2@acme.com")
    assert reply.thread_id == first.thread_id
    assert not reply.links.filter(deal=deal).exists()
    assert reply.links.filter(contact=ann).exists()
    assert "Re: Hi" not in client.get(deal.get_absolute_url()).content.decode()

    client.post(f"/mail/threads/{first.thread_id}/add/", {"record": f"deal:{deal.pk}"})
    assert reply.links.filter(deal=deal, origin="manual", created_by=alice).exists()
    assert "Re: Hi" in client.get(deal.get_absolute_url()).content.decode()


def test_nobody_else_edits_a_thread_they_cannot_see(client, world, charlie, ann):
    client.force_login(charlie)
    message = world["full"]
    response = client.post(
        f"/mail/threads/{message.thread_id}/remove/", {"record": f"contact:{ann.pk}"}
    )
    assert response.status_code == 404
    assert message.links.filter(contact=ann).exists()


def test_the_record_mail_section_costs_the_same_queries_for_5_or_40_messages(
    client, dovecot, alice, ann, django_assert_max_num_queries
):
    account = mailbox(dovecot, alice)
    for n in range(5):
        dovecot.append(
            account.login,
            "INBOX",
            ann_mail(subject=f"S{n}", body="b", message_id=f"<q{n}@acme.com>"),
        )
    account_sync(account=account)
    client.force_login(alice)
    with CaptureQueriesContext(connection) as five:
        assert client.get(ann.get_absolute_url()).status_code == 200
    for n in range(5, 40):
        dovecot.append(
            account.login,
            "INBOX",
            ann_mail(
                subject=f"Re: S{n % 5}",
                body="b",
                message_id=f"<q{n}@acme.com>",
                attachment=("a.txt", "text/plain", b"x") if n % 2 else None,
                in_reply_to=f"<q{n % 5}@acme.com>" if n % 3 else "",
            ),
        )
    account_sync(account=account)
    assert Message.objects.count() == 40
    with django_assert_max_num_queries(len(five)):
        response = client.get(ann.get_absolute_url())
    assert "Re: S" in response.content.decode()
