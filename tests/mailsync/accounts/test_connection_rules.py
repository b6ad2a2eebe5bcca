"""One set of rules for a mailbox's connection settings: the mailbox form and mail_connect refuse
the same settings in the same words, and mail_connect does so before connecting anywhere."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from mailsync.accounts.forms import MailboxForm, connection_clean
from mailsync.models import MailAccount

pytestmark = pytest.mark.django_db

SETTINGS = {
    "email": " Rep@Example.COM ",
    "login": "",
    "imap_host": "IMAP.Example.com.",
    "imap_port": 993,
    "imap_security": "ssl",
    "smtp_host": "posta.città.it",
    "smtp_port": 587,
    "smtp_security": "starttls",
    "history_days": 90,
}

REFUSED = [
    ("imap_host", "imap example.com"),
    ("smtp_host", "rep@example.com"),
    ("imap_host", "pop.example.com"),
    ("imap_port", 110),
    ("smtp_port", 995),
    ("imap_port", 0),
    ("smtp_port", 65536),
    ("imap_security", "starttls"),  # on 993
    ("smtp_security", "ssl"),  # on 587
    ("email", "rep at example.com"),
]


def settings_with(**overrides) -> dict:
    return {**SETTINGS, **overrides}


def refusal(**overrides) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        connection_clean(settings_with(**overrides))
    return raised.value.message_dict


def test_the_rules_return_the_settings_cleaned():
    cleaned = connection_clean(SETTINGS)
    assert cleaned["email"] == cleaned["login"] == "rep@example.com"
    assert (cleaned["imap_host"], cleaned["smtp_host"]) == (
        "imap.example.com",
        "posta.xn--citt-3na.it",
    )
    assert connection_clean(settings_with(login=" Rep.Login "))["login"] == "Rep.Login"


@pytest.mark.parametrize("field, value", REFUSED)
def test_the_form_and_the_rules_refuse_alike(field, value):
    form = MailboxForm({**settings_with(**{field: value}), "password": "pw"})

    assert not form.is_valid()
    assert refusal(**{field: value}) == {field: form.errors[field]}


def test_every_broken_rule_is_reported_at_once():
    errors = refusal(imap_port=995, smtp_port=110, smtp_host="smtp example.com")
    assert set(errors) == {"imap_port", "smtp_port", "smtp_host"}


def test_a_setting_the_form_already_refused_is_left_out():
    # The form's IntegerField refused "abc": the rules skip the port and the port's security.
    form = MailboxForm(
        {**settings_with(imap_port="abc", imap_security="starttls"), "password": "x"}
    )
    assert not form.is_valid()
    assert list(form.errors) == ["imap_port"]


def mail_connect(monkeypatch, **overrides) -> tuple[int, list[str]]:
    options = settings_with(**overrides)
    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    out = io.StringIO()
    args = ["alice", "--password-stdin"]
    for name, value in options.items():
        if value != "":
            args += ["--" + name.replace("_", "-"), str(value).strip()]
    try:
        call_command("mail_connect", *args, stdout=out)
    except SystemExit as exit:
        return exit.code, out.getvalue().strip().splitlines()
    return 0, out.getvalue().strip().splitlines()


def test_mail_connect_refuses_a_pop3_port_on_the_sending_side_before_connecting(
    monkeypatch, alice, silent_server
):
    before = silent_server.connections

    code, lines = mail_connect(
        monkeypatch, imap_host=silent_server.host, imap_port=silent_server.port, smtp_port=995
    )

    assert code == 1
    assert lines == [lines[-1]] and lines[-1].startswith("error: pop3_not_supported: ")
    assert lines[-1].endswith("(--smtp-port)")
    assert silent_server.connections == before  # no stage ran
    assert not MailAccount.objects.exists()


@pytest.mark.parametrize(
    "overrides, line",
    [
        (
            {"imap_security": "starttls"},
            "error: --imap-security: Port 993 uses SSL/TLS, not STARTTLS.",
        ),
        (
            {"smtp_host": "smtp example.com"},
            "error: --smtp-host: “smtp example.com” is not a server name: write it like "
            "imap.example.com.",
        ),
        (
            {"imap_port": 70000},
            "error: --imap-port: Ensure this value is less than or equal to 65535.",
        ),
        ({"email": "rep-at-example.com"}, "error: --email: Enter a valid email address."),
    ],
)
def test_mail_connect_prints_the_forms_words_and_exits_as_for_bad_input(
    monkeypatch, alice, overrides, line
):
    code, lines = mail_connect(monkeypatch, **overrides)
    assert (code, lines) == (1, [line])


def test_mail_connect_refuses_a_pop3_server_name(monkeypatch, alice):
    code, lines = mail_connect(monkeypatch, imap_host="pop3.example.com")
    assert code == 1 and lines[0].startswith("error: pop3_not_supported: ")
    assert lines[0].endswith("(--imap-host)")
