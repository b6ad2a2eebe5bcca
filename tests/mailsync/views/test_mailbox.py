"""The rep's mailbox page against real servers: connect with a streamed, staged test; see the
status; sync now; disconnect. A rep only ever sees and touches their own mailbox."""

from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.html import escape

from mailsync.accounts.forms import MailboxForm, clean_host
from mailsync.accounts.presets import preset_for
from mailsync.accounts.services import account_disable
from mailsync.errors import code_info
from mailsync.models import MailAccount, MailFolder, Message, SkipEntry
from mailsync.sync.run import account_sync
from mailsync.transport.stages import IMAP_STAGES, SMTP_STAGES
from mailsync.views.mailbox import STAGE_LABELS
from tests.factories import MailAccountFactory
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db

URL = "/mailbox/"


def settings_for(dovecot, smtpd, user, **overrides) -> dict:
    smtpd.add_user(user.login, user.password)
    data = {
        "email": user.login,
        "login": "",
        "password": user.password,
        "imap_host": dovecot.host,
        "imap_port": dovecot.ssl_port,
        "imap_security": "ssl",
        "smtp_host": smtpd.host,
        "smtp_port": smtpd.ssl_port,
        "smtp_security": "ssl",
        "history_days": 90,
    }
    data.update(overrides)
    return data


def streamed(response) -> str:
    assert isinstance(response, StreamingHttpResponse), response
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def account(dovecot, smtpd, mail_user, alice):
    """Alice's mailbox, connected to the test Dovecot and SMTP server."""
    smtpd.add_user(mail_user.login, mail_user.password)
    return MailAccountFactory(user=alice, dovecot=dovecot, smtpd=smtpd, mail_user=mail_user)


# -- connecting -------------------------------------------------------------------------------


def test_the_page_asks_for_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_rep_without_a_mailbox_sees_the_connect_form(alice_client):
    response = alice_client.get(URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Connect your mailbox" in page
    for name in ["email", "login", "password", "imap_host", "smtp_port", "history_days"]:
        assert f'name="{name}"' in page
    assert "Only your Inbox and Sent folders are synced" in page
    assert "Nothing on your mail server is ever changed" in page
    assert "POP3 is not supported" in page
    assert 'hx-get="/mailbox/preset/"' in page  # servers are filled in from the address


def test_good_settings_stream_every_stage_and_then_save_the_account(
    alice_client, alice, dovecot, smtpd, mail_user
):
    response = alice_client.post(f"{URL}connect/", settings_for(dovecot, smtpd, mail_user))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Cache-Control"] == "no-store"

    # The page top first, then one row per stage as it finishes; nothing saved meanwhile.
    chunks = iter(response.streaming_content)
    top = next(chunks).decode()
    assert "<h1>Connecting your mailbox</h1>" in top and '<li class="stage' not in top
    stages = []
    for chunk in chunks:
        text = chunk.decode()
        if '<li class="stage' not in text:
            rest = text + b"".join(chunks).decode()
            break
        assert text.count("<li") == 1
        stages.append(text)
        assert not MailAccount.objects.exists()
    assert len(stages) == len(IMAP_STAGES + SMTP_STAGES)
    for stage, row in zip(IMAP_STAGES + SMTP_STAGES, stages, strict=True):
        assert 'class="stage ok"' in row and f'data-stage="{stage}"' in row
        assert str(STAGE_LABELS[stage]) in row and "✓" in row and " ms</span>" in row

    assert "Your mailbox is connected" in rest
    assert 'http-equiv="refresh"' in rest and "/mailbox/?connected=1" in rest
    account = MailAccount.objects.get(user=alice)
    assert account.email == mail_user.login and account.login == mail_user.login
    assert (account.imap_host, account.imap_port) == (dovecot.host, dovecot.ssl_port)
    assert account.status == MailAccount.Status.CONNECTED and account.history_days == 90
    assert account.secret == mail_user.password
    assert mail_user.password not in account.secret_ciphertext


def test_a_wrong_password_streams_the_failing_stage_and_saves_nothing(
    alice_client, dovecot, smtpd, mail_user
):
    data = settings_for(dovecot, smtpd, mail_user, password="not-the-password")
    page = streamed(alice_client.post(f"{URL}connect/", data))

    assert page.count('class="stage ok"') == IMAP_STAGES.index("imap_login")
    assert page.count('class="stage failed"') == 1
    assert 'data-stage="imap_login"' in page and "IMAP sign-in" in page
    assert 'data-stage="smtp_connect"' not in page  # stopped at the first failure
    info = code_info("imap_auth_failed")
    assert "imap_auth_failed" in page
    assert escape(str(info.title)) in page and escape(str(info.help)) in page
    assert "The server said:" in page and "AUTHENTICATIONFAILED" in page
    assert "Nothing was saved" in page
    # The form again, with what the rep typed but never the password.
    assert f'value="{mail_user.login}"' in page and f'value="{dovecot.ssl_port}"' in page
    assert "not-the-password" not in page
    assert not MailAccount.objects.exists()


def test_a_pop3_port_is_refused_by_the_form(alice_client, dovecot, smtpd, mail_user):
    data = settings_for(dovecot, smtpd, mail_user, imap_port=995)
    response = alice_client.post(f"{URL}connect/", data)
    page = response.content.decode()
    assert not isinstance(response, StreamingHttpResponse)
    assert escape(str(code_info("pop3_not_supported").help)) in page
    assert mail_user.password not in page  # the password is never rendered back
    assert f'value="{mail_user.login}"' in page
    assert not MailAccount.objects.exists()


def test_the_preset_endpoint_fills_in_gmail(alice_client):
    response = alice_client.get(
        f"{URL}preset/", {"email": "rep@gmail.com"}, headers={"HX-Request": "true"}
    )
    fragment = response.content.decode()
    assert fragment.startswith('<fieldset id="server-fields"')
    assert 'value="imap.gmail.com"' in fragment and 'value="smtp.gmail.com"' in fragment
    assert 'value="993"' in fragment and 'value="465"' in fragment
    assert "Servers of Gmail filled in" in fragment and "app password" in fragment
    assert "<html" not in fragment


def test_without_a_preset_the_typed_servers_are_kept(alice_client):
    response = alice_client.get(
        f"{URL}preset/",
        {"email": "rep@ourco.example", "imap_host": "mail.ourco.example", "imap_port": "993"},
        headers={"HX-Request": "true"},
    )
    fragment = response.content.decode()
    assert 'value="mail.ourco.example"' in fragment
    assert "no preset for this address" in fragment


def test_the_fill_in_button_works_without_javascript(alice_client):
    response = alice_client.post(
        f"{URL}connect/",
        {"email": "rossi@libero.it", "password": "secret", "history_days": "30", "preset": "1"},
    )
    page = response.content.decode()
    assert 'value="imapmail.libero.it"' in page and 'value="smtp.libero.it"' in page
    assert 'value="rossi@libero.it"' in page and "secret" not in page
    assert '<option value="30" selected>' in page
    assert 'class="errorlist' not in page  # nothing was validated yet
    assert not MailAccount.objects.exists()
    # And the same page from a plain GET of the preset URL.
    page = alice_client.get(f"{URL}preset/", {"email": "rossi@libero.it"}).content.decode()
    assert "<html" in page and 'value="imapmail.libero.it"' in page


# -- the status page --------------------------------------------------------------------------


def test_the_status_page_shows_health_counts_and_folders(alice_client, account):
    now = timezone.now()
    account.status = MailAccount.Status.ERROR
    account.error_code, account.error_stage = "imap_auth_failed", "imap_login"
    account.error_detail, account.error_since = "[AUTHENTICATIONFAILED] Go away.", now
    account.failures, account.last_sync_at = 3, now - timedelta(minutes=2)
    account.save()
    inbox = MailFolder.objects.create(account=account, role="inbox", name="INBOX", last_uid=42)
    SkipEntry.objects.create(
        account=account, source="imap", folder=inbox, uid=7, code="too_many_recipients"
    )
    SkipEntry.objects.create(
        account=account, source="imap", folder=inbox, uid=8, code="too_many_recipients"
    )

    page = alice_client.get(URL).content.decode()
    assert 'class="badge status-error">Error</span>' in page
    assert "Connection and sign-in" in page and "Sign-in refused" in page
    assert "imap_auth_failed" in page and "[AUTHENTICATIONFAILED] Go away." in page
    assert escape(str(code_info("imap_auth_failed").help)) in page
    assert "IMAP sign-in" in page and "3 failed attempts in a row" in page
    assert "Too many recipients" in page and "too_many_recipients" in page
    assert "INBOX" in page and ">42<" in page
    for label in ["Sync now", "Test connection", "Change settings", "Disconnect"]:
        assert label in page


def test_testing_the_saved_settings_streams_the_stages_and_changes_nothing(alice_client, account):
    before = MailAccount.objects.values().get(pk=account.pk)
    page = streamed(alice_client.post(f"{URL}test/"))
    assert page.count('class="stage ok"') == len(IMAP_STAGES + SMTP_STAGES)
    assert "Every stage passed" in page and "Nothing was changed" in page
    assert MailAccount.objects.values().get(pk=account.pk) == before


def test_change_settings_shows_the_saved_settings_without_the_password(alice_client, account):
    page = alice_client.get(URL, {"change": "1"}).content.decode()
    assert "Change mailbox settings" in page
    assert f'value="{account.imap_host}"' in page and f'value="{account.smtp_port}"' in page
    assert account.secret not in page


def test_sync_now_syncs_the_mailbox(
    alice_client, account, dovecot, mail_user, django_capture_on_commit_callbacks
):
    dovecot.append(mail_user.login, "INBOX", make_message(subject="Fresh lead"))
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"{URL}sync/", follow=True)
    assert "Sync requested" in response.content.decode()
    account.refresh_from_db()
    assert account.last_success_at is not None
    assert Message.objects.filter(subject="Fresh lead").exists()


def test_disconnecting_keeps_the_mail_and_forgets_the_password(
    alice_client, account, dovecot, mail_user
):

    dovecot.append(mail_user.login, "INBOX", make_message(subject="Keep me"))
    account_sync(account=account)
    page = alice_client.get(f"{URL}disconnect/").content.decode()
    assert "Mail already in the CRM stays" in page and account.email in page

    response = alice_client.post(f"{URL}disconnect/", follow=True)
    assert "Mail already in the CRM stays" in response.content.decode()
    account.refresh_from_db()
    assert account.status == MailAccount.Status.DISCONNECTED
    assert account.secret_ciphertext == "" and account.next_sync_at is None
    assert Message.objects.filter(subject="Keep me").exists()
    # Reconnecting starts from the saved settings, without the password.
    page = alice_client.get(URL).content.decode()
    assert "Connect your mailbox" in page and f'value="{account.email}"' in page
    assert mail_user.password not in page


def test_a_disabled_mailbox_stays_disabled_until_an_operator_enables_it(
    alice_client, account, dovecot, smtpd, mail_user
):

    account_disable(account=account)
    page = alice_client.get(URL, {"change": "1"}).content.decode()
    assert 'badge status-disabled">Disabled<' in page and "Change settings" not in page
    assert "Sync now" not in page
    response = alice_client.post(f"{URL}sync/", follow=True)
    assert "An operator has disabled syncing" in response.content.decode()
    response = alice_client.post(f"{URL}connect/", settings_for(dovecot, smtpd, mail_user))
    assert not isinstance(response, StreamingHttpResponse) and response.status_code == 302
    account.refresh_from_db()
    assert account.status == MailAccount.Status.DISABLED and account.next_sync_at is None


def test_another_rep_never_sees_or_touches_alices_mailbox(charlie_client, account):
    before = MailAccount.objects.values().get(pk=account.pk)
    page = charlie_client.get(URL).content.decode()
    assert "Connect your mailbox" in page and account.email not in page
    assert account.email not in charlie_client.get(URL, {"change": "1"}).content.decode()
    for path in ["sync/", "test/", "disconnect/"]:
        assert charlie_client.post(f"{URL}{path}").status_code == 404
    assert charlie_client.get(f"{URL}disconnect/").status_code == 404
    assert MailAccount.objects.values().get(pk=account.pk) == before


def test_the_page_speaks_italian(alice_client, account):
    page = alice_client.get(URL, headers={"Accept-Language": "it"}).content.decode()
    assert "Casella di posta" in page and "Sincronizza ora" in page and "Scollega" in page
    account.status = MailAccount.Status.DISCONNECTED
    account.save()
    page = alice_client.get(URL, headers={"Accept-Language": "it"}).content.decode()
    assert "Collega la tua casella di posta" in page and "Server IMAP" in page
    assert "POP3 non è supportato" in page


# -- the form and the presets -----------------------------------------------------------------


def form_data(**overrides):
    data = {
        "email": " Rep@Example.COM ",
        "password": "pw",
        "imap_host": " IMAP.Example.COM. ",
        "imap_port": "993",
        "imap_security": "ssl",
        "smtp_host": "smtp.example.com",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "history_days": "0",
    }
    data.update(overrides)
    return data


def test_the_form_normalises_and_builds_connection_settings():
    form = MailboxForm(form_data())
    assert form.is_valid(), form.errors
    conn = form.to_connection_settings()
    assert conn.email == conn.login == "rep@example.com"
    assert (conn.imap.host, conn.imap.port, conn.imap.security) == ("imap.example.com", 993, "ssl")
    assert (conn.smtp.port, conn.smtp.security, conn.history_days) == (587, "starttls", 0)
    assert clean_host("127.0.0.1") == "127.0.0.1" and clean_host("localhost") == "localhost"
    assert clean_host("posta.città.it") == "posta.xn--citt-3na.it"


@pytest.mark.parametrize(
    "field, value",
    [
        ("imap_host", "imap example.com"),
        ("imap_host", "imaps://imap.example.com"),
        ("smtp_host", "rep@example.com"),
        ("imap_port", "0"),
        ("smtp_port", "65536"),
        ("imap_port", "110"),
        ("smtp_port", "995"),
        ("imap_host", "pop.example.com"),
        ("imap_security", "starttls"),  # on 993
    ],
)
def test_the_form_refuses(field, value):
    form = MailboxForm(form_data(**{field: value}))
    assert not form.is_valid() and field in form.errors


def test_presets_match_exact_domains_only():
    assert preset_for("Rep@GMail.com").imap_host == "imap.gmail.com"
    assert preset_for("rep@googlemail.com").oauth == "google"
    assert preset_for("rep@hotmail.it").oauth == "microsoft"
    assert preset_for("rep@contoso.onmicrosoft.com").smtp_host == "smtp.office365.com"
    for domain in ["libero.it", "inwind.it", "iol.it", "blu.it", "giallo.it"]:
        assert preset_for(f"rep@{domain}").imap_host == "imapmail.libero.it"
    for domain in ["tim.it", "alice.it", "tin.it"]:
        assert preset_for(f"rep@{domain}").imap_host == "imap.tim.it"
    assert preset_for("rep@aruba.it").smtp_port == 465
    for address in ["rep@mail.gmail.com", "rep@notgmail.com", "rep@ourco.example", "nobody"]:
        assert preset_for(address) is None


def test_the_rep_sees_each_skipped_message_with_its_headers_and_reason(client, alice, charlie):
    from mailsync.models import SkipEntry

    account = MailAccountFactory(user=alice)
    SkipEntry.objects.create(
        account=account,
        source="imap",
        code="too_many_recipients",
        detail="140 recipients; the limit is 100",
        subject="Autumn newsletter",
        from_address="news@vendor.example",
    )
    client.force_login(alice)
    page = client.get("/mailbox/skipped/?code=too_many_recipients").content.decode()
    assert "Autumn newsletter" in page and "news@vendor.example" in page
    assert "140 recipients" in page and "Import anyway" in page  # the catalogue's help text
    client.force_login(charlie)
    assert client.get("/mailbox/skipped/").status_code == 404  # charlie has no mailbox
    assert "Autumn newsletter" not in client.get("/mailbox/").content.decode()
