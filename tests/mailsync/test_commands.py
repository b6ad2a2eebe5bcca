"""The operators' command line: mail_connect, mail_sync, mail_status, mail_doctor."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from mailsync.models import MailAccount, Message
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def connect(monkeypatch, dovecot, smtpd, user, password, *extra):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    args = [
        "alice",
        "--email", user.login,
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.ssl_port), "--imap-security", "ssl",
        "--smtp-host", smtpd.host, "--smtp-port", str(smtpd.ssl_port), "--smtp-security", "ssl",
        "--history-days", "365",
        "--password-stdin",
        *extra,
    ]  # fmt: skip
    code = 0
    try:
        call_command("mail_connect", *args, stdout=out)
    except SystemExit as exit:
        code = exit.code
    return code, out.getvalue().strip().splitlines()


def test_mail_connect_prints_each_stage_and_saves_the_account(
    monkeypatch, dovecot, smtpd, mail_user, alice
):
    smtpd.add_user(mail_user.login, mail_user.password)
    code, lines = connect(monkeypatch, dovecot, smtpd, mail_user, mail_user.password)
    assert code == 0, lines
    assert [line.split()[0] for line in lines[:9]] == ["ok"] * 9
    assert MailAccount.objects.get(user=alice).email == mail_user.login


def test_mail_connect_ends_with_the_error_code_and_exits_non_zero(
    monkeypatch, dovecot, smtpd, mail_user, alice
):
    code, lines = connect(monkeypatch, dovecot, smtpd, mail_user, "wrong")
    assert code == 1
    assert lines[-1].startswith("error: imap_auth_failed: Sign-in refused.")
    assert any("FAIL  imap_login: imap_auth_failed" in line for line in lines)
    assert not MailAccount.objects.exists()


def test_mail_connect_refuses_a_pop3_port(monkeypatch, dovecot, smtpd, mail_user, alice):
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "mail_connect", "alice", "--email", mail_user.login,
            "--imap-host", dovecot.host, "--imap-port", "995", "--imap-security", "ssl",
            "--smtp-host", smtpd.host, "--smtp-port", "465", "--smtp-security", "ssl",
            "--password-stdin", stdout=out,
        )  # fmt: skip
    assert out.getvalue().strip().splitlines()[-1].startswith("error: pop3_not_supported:")


def test_sync_status_and_doctor(monkeypatch, dovecot, smtpd, mail_user, alice):
    smtpd.add_user(mail_user.login, mail_user.password)
    connect(monkeypatch, dovecot, smtpd, mail_user, mail_user.password)
    dovecot.append(mail_user.login, "INBOX", make_message(subject="Hello"))
    dovecot.append(
        mail_user.login, "INBOX", make_message(to=[f"p{i}@x.example" for i in range(101)])
    )

    out = io.StringIO()
    call_command("mail_sync", mail_user.login, stdout=out)
    text = out.getvalue()
    assert "imported 1" in text and "skipped too_many_recipients: 1" in text
    assert "[##############################] 2/2" in text  # the progress bar
    assert Message.objects.count() == 2

    out = io.StringIO()
    call_command("mail_status", mail_user.login, "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert status["status"] == "connected" and status["error"] is None
    assert status["skipped"] == {"too_many_recipients": 1} and status["imported"] == 1
    inbox = next(f for f in status["folders"] if f["role"] == "inbox")
    assert inbox["last_uid"] == 2 and inbox["uidvalidity"] == dovecot.uidvalidity(
        mail_user.login, "INBOX"
    )

    out = io.StringIO()
    call_command("mail_doctor", mail_user.login, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] and len(report["stages"]) == 9


def test_doctor_reports_a_changed_password(monkeypatch, dovecot, smtpd, mail_user, alice):
    smtpd.add_user(mail_user.login, mail_user.password)
    connect(monkeypatch, dovecot, smtpd, mail_user, mail_user.password)
    account = MailAccount.objects.get()
    account.secret = "changed"
    account.save()
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("mail_doctor", mail_user.login, stdout=out)
    assert out.getvalue().strip().splitlines()[-1].startswith("error: imap_auth_failed:")


def test_mail_sync_names_unknown_accounts():
    with pytest.raises(CommandError, match="no connected mail account: nobody@x.example"):
        call_command("mail_sync", "nobody@x.example")
    with pytest.raises(CommandError, match="--all"):
        call_command("mail_sync")
