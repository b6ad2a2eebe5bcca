"""Inline images (cid:) of a message show from the message's own attachments, through a view
that checks access like a download; protocol-relative remote images wait for "Show images"
like any other remote image. Real mail, synced from Dovecot."""

import html as html_lib
import re
import struct
import zlib
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from mailsync.models import Attachment, Message, Thread
from mailsync.views import mail as views_mail
from tests.support.mail import ann_mail, deliver_raw, mailbox

pytestmark = pytest.mark.django_db


def png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG (opaque red), so that a browser can decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


LOGO = png()


def related_mail(*, message_id: str, html: str, images: list[tuple[str, str, bytes]]) -> bytes:
    """multipart/alternative of text and multipart/related (HTML + images by Content-ID), as
    Outlook and Gmail send a signature logo. images: (content id, content type, bytes)."""
    from datetime import UTC, datetime

    message = EmailMessage()
    message["Subject"] = "With a logo"
    message["From"] = "Ann <ann@acme.com>"
    message["To"] = "rep@ourco.example"
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content("See the logo.")
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]
    for cid, content_type, data in images:
        maintype, subtype = content_type.split("/")
        html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
    return bytes(message)


@pytest.fixture
def logo_message(dovecot, alice, ann):
    """Alice's message from Ann with an inline logo, a cid that names nothing, and an inline
    SVG (which must never be served from our origin)."""
    account = mailbox(dovecot, alice)
    html = (
        '<p>Regards</p><img src="cid:logo@acme.com" alt="logo">'
        '<img src="cid:missing@acme.com" alt="missing">'
        '<img src="cid:vector@acme.com" alt="vector">'
    )
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    deliver_raw(
        dovecot,
        account,
        related_mail(
            message_id="<logo@acme.com>",
            html=html,
            images=[
                ("logo@acme.com", "image/png", LOGO),
                ("vector@acme.com", "image/svg+xml", svg),
            ],
        ),
    )
    return Message.objects.get(message_id="logo@acme.com")


def inline_urls(client, message) -> dict[str, str]:
    """alt text -> the src of each image in the message page's frame."""
    page = html_lib.unescape(client.get(f"/mail/messages/{message.pk}/").content.decode())
    return {alt: src for src, alt in re.findall(r'<img src="([^"]*)" alt="([^"]*)"', page)}


def test_an_inline_image_shows_from_our_view_to_those_who_see_the_message(
    client, logo_message, alice, bob, charlie
):
    logo = logo_message.attachments.get(content_id="logo@acme.com")
    assert logo.inline
    client.force_login(alice)
    page = client.get(f"/mail/messages/{logo_message.pk}/").content.decode()
    assert "cid:" not in page  # an unknown cid stays blocked: no src at all
    assert '<img alt="missing">' in html_lib.unescape(page)
    url = inline_urls(client, logo_message)["logo"]
    assert url.startswith(f"/mail/attachments/{logo.pk}/inline/")

    image = client.get(url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert image["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(image.streaming_content) == LOGO
    # The sandboxed frame sends no session cookie: the URL itself names its viewer.
    client.logout()
    assert client.get(url).status_code == 200

    client.force_login(bob)  # her teammate: her mailbox shares in full
    assert client.get(inline_urls(client, logo_message)["logo"]).status_code == 200
    client.force_login(charlie)
    assert client.get(url).status_code == 404  # Alice's URL is not his
    assert client.get(f"/mail/messages/{logo_message.pk}/").status_code == 404


def test_a_guessed_or_tampered_url_is_404(client, logo_message, alice, charlie):
    logo = logo_message.attachments.get(content_id="logo@acme.com")
    client.force_login(alice)
    url = inline_urls(client, logo_message)["logo"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    client.force_login(charlie)
    for guess in (
        f"/mail/attachments/{logo.pk}/inline/x/",
        f"/mail/attachments/{logo.pk}/inline/{charlie.pk}:{token.split(':', 1)[1]}/",
        f"/mail/attachments/{logo.pk + 1}/inline/{token}/",  # a token is for one attachment
        f"/mail/attachments/{logo.pk}/",  # the download view: Charlie sees nothing of hers
    ):
        assert client.get(guess).status_code == 404, guess


def test_an_inline_image_url_expires(client, logo_message, alice, monkeypatch):
    client.force_login(alice)
    url = inline_urls(client, logo_message)["logo"]
    assert client.get(url).status_code == 200
    monkeypatch.setattr(views_mail, "INLINE_IMAGE_URL_SECONDS", -1)
    assert client.get(url).status_code == 404


def test_making_the_thread_private_stops_a_teammates_inline_image_at_once(
    client, logo_message, bob
):
    client.force_login(bob)
    url = inline_urls(client, logo_message)["logo"]
    assert client.get(url).status_code == 200
    Thread.objects.filter(pk=logo_message.thread_id).update(visibility="private")
    assert client.get(url).status_code == 404


def test_only_raster_images_are_served_inline(client, logo_message, alice):
    vector = logo_message.attachments.get(content_id="vector@acme.com")
    assert vector.inline
    client.force_login(alice)
    assert "vector" not in inline_urls(client, logo_message)
    page = html_lib.unescape(client.get(f"/mail/messages/{logo_message.pk}/").content.decode())
    assert '<img alt="vector">' in page
    assert f"/mail/attachments/{vector.pk}/inline/" not in page


def test_a_plain_attachment_is_not_served_inline(client, dovecot, alice, ann):
    account = mailbox(dovecot, alice)
    deliver_raw(
        dovecot,
        account,
        ann_mail(
            subject="Photo",
            body="b",
            message_id="<photo@acme.com>",
            attachment=("photo.png", "image/png", LOGO),
        ),
    )
    photo = Attachment.objects.get(filename="photo.png")
    assert not photo.inline and not photo.content_id
    client.force_login(alice)
    token = views_mail._inline_signer(photo.pk).sign(str(alice.pk))
    assert client.get(f"/mail/attachments/{photo.pk}/inline/{token}/").status_code == 404


def test_a_teammate_who_sees_only_metadata_gets_no_inline_image(client, dovecot, alice, bob, ann):
    account = mailbox(dovecot, alice, sharing="metadata")
    deliver_raw(
        dovecot,
        account,
        related_mail(
            message_id="<meta-logo@acme.com>",
            html='<img src="cid:logo@acme.com">',
            images=[("logo@acme.com", "image/png", LOGO)],
        ),
    )
    logo = Attachment.objects.get(content_id="logo@acme.com")
    client.force_login(bob)
    token = views_mail._inline_signer(logo.pk).sign(str(bob.pk))
    assert client.get(f"/mail/attachments/{logo.pk}/inline/{token}/").status_code == 404


def test_a_protocol_relative_image_is_held_until_show_images(client, dovecot, alice, ann):
    account = mailbox(dovecot, alice)
    html = '<p>Hi</p><img src="//evil.example/x.png" alt="tracker">'
    deliver_raw(
        dovecot, account, ann_mail(subject="Pixel", body="b", message_id="<pr@acme.com>", html=html)
    )
    message = Message.objects.get(message_id="pr@acme.com")
    client.force_login(alice)
    held = client.get(f"/mail/messages/{message.pk}/")
    text = held.content.decode()
    assert "Show images" in text
    assert "data-remote-src=&quot;https://evil.example/x.png&quot;" in text
    assert " src=&quot;https://evil.example" not in text and "src=&quot;//" not in text
    shown = client.get(f"/mail/messages/{message.pk}/?images=1")
    assert " src=&quot;https://evil.example/x.png&quot;" in shown.content.decode()
    assert "img-src 'self' data: https:" in shown["Content-Security-Policy"]


def test_sanitize_html_holds_protocol_relative_images_like_other_remote_ones():
    from mailsync.views.html import sanitize_html

    for src in ("//evil.example/x.png", " //evil.example/x.png", "\t//evil.example/x.png"):
        html = f'<img src="{src}">'
        assert sanitize_html(html) == '<img data-remote-src="https://evil.example/x.png">'
        assert sanitize_html(html, allow_remote_images=True) == (
            '<img src="https://evil.example/x.png">'
        )
    # Any other relative URL would point at the CRM itself: dropped, as before.
    assert sanitize_html('<img src="/mail/messages/1/">') == "<img>"


def test_sanitize_html_rewrites_known_cids_and_blocks_the_others():
    from mailsync.views.html import sanitize_html

    urls = {"logo@acme.com": "/mail/attachments/7/inline/t/"}
    html = '<img src="cid:Logo@Acme.com"><img src="cid:%3Clogo@acme.com%3E"><img src="cid:x@y">'
    expected = '<img src="/mail/attachments/7/inline/t/">' * 2 + "<img>"
    assert sanitize_html(html, inline_images=urls) == expected
    assert sanitize_html(html, allow_remote_images=True, inline_images=urls) == expected
