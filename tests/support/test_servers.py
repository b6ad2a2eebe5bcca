"""The test servers themselves work, driven by plain imaplib / smtplib / imap_tools with VERIFYING
SSL contexts (imaplib and smtplib verify nothing unless given one)."""

import base64
import datetime as dt
import imaplib
import re
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import pytest
from imap_tools import AND, MailBox, MailBoxStartTls
from imap_tools.errors import MailboxLoginError

from tests.support.fixtures import unique_login


def verifying(cafile) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def raw_message(subject: str = "Quote for Acme", to: str = "alice@ourco.example") -> bytes:
    message = EmailMessage()
    message["From"] = "Buyer <buyer@acme.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{unique_login('msg')}>"
    message.set_content("Hello Alice,\n\nplease send the quote.\n")
    return message.as_bytes().replace(b"\n", b"\r\n")


# -- Dovecot --------------------------------------------------------------------------------------


def test_login_over_implicit_tls(dovecot, mail_user):
    assert dovecot.host in ("127.0.0.1", "localhost")
    ctx = verifying(dovecot.ca_file)
    with imaplib.IMAP4_SSL(dovecot.host, dovecot.ssl_port, ssl_context=ctx, timeout=5) as imap:
        assert imap.login(*mail_user)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
        imap.logout()


def test_login_over_starttls(dovecot, mail_user):
    with imaplib.IMAP4(dovecot.host, dovecot.starttls_port, timeout=5) as imap:
        assert "STARTTLS" in imap.capabilities
        imap.starttls(ssl_context=verifying(dovecot.ca_file))
        assert imap.login(*mail_user)[0] == "OK"
        imap.logout()


def test_imap_tools_both_ports(dovecot, mail_user):
    ctx = verifying(dovecot.ca_file)
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx).login(*mail_user) as box:
        assert box.folder.get() == "INBOX"
    with MailBoxStartTls(dovecot.host, dovecot.starttls_port, ssl_context=ctx).login(
        *mail_user
    ) as box:
        assert box.folder.get() == "INBOX"


def refused(box, login: str, password: str) -> None:
    """Asserts that the (connected) MailBox cannot log in, then closes it."""
    try:
        with pytest.raises(MailboxLoginError):
            box.login(login, password)
    finally:
        box.client.shutdown()


def test_wrong_password_fails(dovecot, mail_user):
    ctx = verifying(dovecot.ca_file)
    refused(MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx), mail_user.login, "nope")
    with (
        imaplib.IMAP4_SSL(dovecot.host, dovecot.ssl_port, ssl_context=ctx) as imap,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        imap.login("nobody@ourco.example", "nope")


def test_add_user_is_idempotent_and_changes_passwords(dovecot):
    login = unique_login()
    dovecot.add_user(login, "first")
    dovecot.add_user(login, "first")
    ctx = verifying(dovecot.ca_file)
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx).login(login, "first"):
        pass
    dovecot.add_user(login, "second")
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx).login(login, "second"):
        pass
    refused(MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx), login, "first")


def test_append_then_peek_leaves_flags_alone(dovecot, mail_user):
    raw = raw_message()
    date = dt.datetime(2024, 3, 5, 9, 30, tzinfo=dt.UTC)
    first = dovecot.append(mail_user.login, "INBOX", raw, flags=("\\Flagged",), date=date)
    second = dovecot.append(mail_user.login, "INBOX", raw_message("Re: Quote"))
    assert second > first
    before = dovecot.flags(mail_user.login, "INBOX")
    assert before == {first: ("\\Flagged",), second: ()}

    ctx = verifying(dovecot.ca_file)
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx).login(*mail_user) as box:
        typ, data = box.client.uid("FETCH", str(first), "(BODY.PEEK[] INTERNALDATE)")
        assert typ == "OK"
        assert data[0][1] == raw
        assert time.mktime(imaplib.Internaldate2tuple(data[0][0])) == date.timestamp()
        messages = list(box.fetch(AND(uid=str(second)), mark_seen=False))
        assert [m.subject for m in messages] == ["Re: Quote"]

    assert dovecot.flags(mail_user.login, "INBOX") == before
    assert len(list(dovecot.maildir(mail_user.login).glob("*/*"))) == 2


def test_append_to_other_folders(dovecot, mail_user):
    uid = dovecot.append(mail_user.login, "Sent", raw_message(), flags=("\\Seen",))
    assert dovecot.flags(mail_user.login, "Sent") == {uid: ("\\Seen",)}
    assert dovecot.flags(mail_user.login, "Archive") == {}
    assert list(dovecot.maildir(mail_user.login, "Sent").glob("cur/*"))


def test_special_use_folders(dovecot, mail_user):
    ctx = verifying(dovecot.ca_file)
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx).login(*mail_user) as box:
        folders = {f.name: f.flags for f in box.folder.list()}
    assert "INBOX" in folders
    assert "\\Sent" in folders["Sent"]
    assert "\\Junk" in folders["Spam"]
    assert "\\Drafts" in folders["Drafts"]
    assert "\\Archive" in folders["Archive"]


def test_create_folder(dovecot, mail_user):
    dovecot.create_folder(mail_user.login, "Clients/Acme")
    name = unique_login("Old-").split("@")[0]
    dovecot.create_folder(mail_user.login, name, special_use="\\Archive")
    folders = dovecot.folders(mail_user.login)
    assert "Clients/Acme" in folders
    assert "\\Archive" in folders[name]
    uid = dovecot.append(mail_user.login, "Clients/Acme", raw_message())
    assert list(dovecot.flags(mail_user.login, "Clients/Acme")) == [uid]


def test_reset_uidvalidity_keeps_messages(dovecot, mail_user):
    for subject in ("One", "Two", "Three"):
        dovecot.append(mail_user.login, "INBOX", raw_message(subject))
    before = dovecot.uidvalidity(mail_user.login, "INBOX")
    flags = dovecot.flags(mail_user.login, "INBOX")
    new = dovecot.reset_uidvalidity(mail_user.login, "INBOX")
    assert new != before
    ctx = verifying(dovecot.ca_file)
    with imaplib.IMAP4_SSL(dovecot.host, dovecot.ssl_port, ssl_context=ctx) as imap:
        imap.login(*mail_user)
        typ, data = imap.select("INBOX", readonly=True)
        assert int(data[0]) == 3
        assert imap.untagged_responses["UIDVALIDITY"] == [str(new).encode()]
    assert dovecot.flags(mail_user.login, "INBOX") == flags


def test_xoauth2_login(dovecot, mail_user):
    dovecot.add_token(mail_user.login, "good-token-" + mail_user.login)
    ctx = verifying(dovecot.ca_file)
    box = MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx)
    with box.xoauth2(mail_user.login, "good-token-" + mail_user.login):
        assert box.folder.get() == "INBOX"
    box = MailBox(dovecot.host, dovecot.ssl_port, ssl_context=ctx)
    with pytest.raises(imaplib.IMAP4.error):
        box.xoauth2(mail_user.login, "bad")
    box.client.shutdown()


# -- TLS failures and wrong servers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "codes", "message"),
    [
        ("tls_self_signed", {18}, "self-signed certificate"),
        ("tls_unknown_ca", {20}, "unable to get local issuer certificate"),
        ("tls_expired", {10}, "certificate has expired"),
        ("tls_wrong_host", {62, 64}, "mismatch"),
    ],
)
def test_bad_certificates_fail_verification(request, mail_ca, server, codes, message):
    bad = request.getfixturevalue(server)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        imaplib.IMAP4_SSL(bad.host, bad.port, ssl_context=verifying(mail_ca.ca_file), timeout=5)
    assert caught.value.verify_code in codes
    assert message in caught.value.verify_message


@pytest.mark.parametrize("server", ["tls_self_signed", "tls_unknown_ca"])
def test_system_trust_store_rejects_them_too(request, server):
    bad = request.getfixturevalue(server)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        imaplib.IMAP4_SSL(bad.host, bad.port, ssl_context=ssl.create_default_context(), timeout=5)
    assert caught.value.verify_code in (18, 19, 20)


def test_unknown_ca_works_with_its_bundle(tls_unknown_ca):
    ctx = verifying(tls_unknown_ca.ca_file)
    with imaplib.IMAP4_SSL(tls_unknown_ca.host, tls_unknown_ca.port, ssl_context=ctx) as imap:
        assert imap.welcome == b"* OK IMAP4rev1 ready"
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            imap.login("alice", "secret")


def test_pop3_greeting(pop3_server):
    with socket.create_connection((pop3_server.host, pop3_server.port), timeout=5) as sock:
        assert sock.makefile("rb").readline() == b"+OK POP3 server ready\r\n"
    with pytest.raises(imaplib.IMAP4.error):
        imaplib.IMAP4(pop3_server.host, pop3_server.port, timeout=5)


def test_closed_port_refuses(closed_port):
    with pytest.raises(ConnectionRefusedError):
        imaplib.IMAP4_SSL(closed_port.host, closed_port.port, timeout=2)


def test_silent_server_times_out(silent_server):
    with pytest.raises(TimeoutError):
        imaplib.IMAP4_SSL(silent_server.host, silent_server.port, timeout=0.3)
    with pytest.raises(TimeoutError):
        imaplib.IMAP4(silent_server.host, silent_server.port, timeout=0.3)


# -- SMTP ---------------------------------------------------------------------------------------


def test_smtp_starttls_auth_and_send(smtpd):
    smtpd.add_user("alice@ourco.example", "smtp-secret")
    raw = raw_message(to="buyer@acme.example")
    with smtplib.SMTP(smtpd.host, smtpd.starttls_port, timeout=5) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")  # AUTH is offered only after STARTTLS
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            smtp.sendmail("alice@ourco.example", ["buyer@acme.example"], raw)
        assert caught.value.smtp_code == 530
        smtp.starttls(context=verifying(smtpd.ca_file))
        smtp.ehlo()
        smtp.login("alice@ourco.example", "smtp-secret")
        smtp.sendmail("alice@ourco.example", ["buyer@acme.example"], raw)
    assert smtpd.messages == [("alice@ourco.example", ["buyer@acme.example"], raw)]
    assert smtpd.authenticated == [("PLAIN", "alice@ourco.example")]


def test_smtp_implicit_tls_send(smtpd):
    smtpd.add_user("bob@ourco.example", "pw")
    ctx = verifying(smtpd.ca_file)
    with smtplib.SMTP_SSL(smtpd.host, smtpd.ssl_port, context=ctx, timeout=5) as smtp:
        smtp.login("bob@ourco.example", "pw")
        smtp.sendmail("bob@ourco.example", ["a@x.example", "b@x.example"], raw_message())
    [(sender, rcpts, data)] = smtpd.messages
    assert (sender, rcpts) == ("bob@ourco.example", ["a@x.example", "b@x.example"])
    assert b"Subject: Quote for Acme" in data


def test_smtp_scripted_rejections(smtpd):
    smtpd.add_user("bob@ourco.example", "pw")
    smtpd.script("rcpt", 550, "5.1.1 User unknown")
    ctx = verifying(smtpd.ca_file)
    with smtplib.SMTP_SSL(smtpd.host, smtpd.ssl_port, context=ctx, timeout=5) as smtp:
        smtp.login("bob@ourco.example", "pw")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            smtp.sendmail("bob@ourco.example", ["gone@x.example"], raw_message())
        assert caught.value.recipients == {"gone@x.example": (550, b"5.1.1 User unknown")}
        # One recipient of two refused: the message goes to the other one.
        smtpd.script("rcpt", 550, "5.1.1 User unknown")
        refused = smtp.sendmail("bob@ourco.example", ["gone@x.example", "ok@x.example"], b"x")
        assert refused == {"gone@x.example": (550, b"5.1.1 User unknown")}
        smtpd.script("mail", 552, "5.3.4 Message size exceeds fixed limit")
        with pytest.raises(smtplib.SMTPSenderRefused):
            smtp.sendmail("bob@ourco.example", ["ok@x.example"], b"x")
        smtpd.script("data", 451, "4.3.0 Try again later")
        with pytest.raises(smtplib.SMTPDataError) as caught:
            smtp.sendmail("bob@ourco.example", ["ok@x.example"], b"x")
        assert caught.value.smtp_code == 451
    assert [m.rcpt_tos for m in smtpd.messages] == [["ok@x.example"]]


def test_smtp_wrong_password(smtpd):
    smtpd.add_user("bob@ourco.example", "pw")
    ctx = verifying(smtpd.ca_file)
    with smtplib.SMTP_SSL(smtpd.host, smtpd.ssl_port, context=ctx, timeout=5) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            smtp.login("bob@ourco.example", "wrong")
        assert caught.value.smtp_code == 535
        # smtplib's login() tries PLAIN, then LOGIN: both must fail.
        smtpd.script("auth", 454, "4.7.0 Temporary authentication failure", times=2)
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            smtp.login("bob@ourco.example", "pw")
        assert caught.value.smtp_code == 454
        smtp.login("bob@ourco.example", "pw")


def test_smtp_xoauth2(smtpd):
    smtpd.add_token("carol@ourco.example", "tok-123")

    def xoauth2(token):
        return lambda challenge=None: f"user=carol@ourco.example\x01auth=Bearer {token}\x01\x01"

    ctx = verifying(smtpd.ca_file)
    with smtplib.SMTP(smtpd.host, smtpd.starttls_port, timeout=5) as smtp:
        smtp.starttls(context=ctx)
        smtp.ehlo()  # again after STARTTLS, or smtplib mistakes "503 send EHLO first" for success
        assert "XOAUTH2" in smtp.esmtp_features["auth"].split()
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            smtp.auth("XOAUTH2", xoauth2("expired"))
        assert caught.value.smtp_code == 535
        smtp.auth("XOAUTH2", xoauth2("tok-123"))
        smtp.sendmail("carol@ourco.example", ["x@y.example"], b"Subject: hi\r\n\r\nhi\r\n")
    assert smtpd.authenticated == [("XOAUTH2", "carol@ourco.example")]
    assert len(smtpd.messages) == 1


def test_smtp_xoauth2_error_challenge_is_json(smtpd):
    ctx = verifying(smtpd.ca_file)
    with smtplib.SMTP_SSL(smtpd.host, smtpd.ssl_port, context=ctx, timeout=5) as smtp:
        smtp.ehlo()
        blob = base64.b64encode(b"user=x@y.example\x01auth=Bearer nope\x01\x01").decode()
        code, reply = smtp.docmd("AUTH", "XOAUTH2 " + blob)
        assert code == 334
        assert re.search(rb'"status": "400"', base64.b64decode(reply))
        assert smtp.docmd("")[0] == 535
