"""The demo data, the start-up bootstrap and what happens to people who sign up."""

import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress as AccountEmailAddress
from allauth.account.signals import user_signed_up
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from crm.management.commands.crm_demo import DEMO_PASSWORD, DEMO_TEAM
from crm.models import (
    MANAGER_GROUP,
    REP_GROUP,
    Activity,
    Company,
    Contact,
    Deal,
    Lead,
    Note,
    Stage,
    Task,
    Team,
    User,
)
from mailsync.models import (
    Attachment,
    BlockEntry,
    MailAccount,
    Message,
    MessageLink,
    Participant,
    Sighting,
    SkipEntry,
    Thread,
    ThreadDealChoice,
)
from mailsync.selectors.access import FULL, NONE, SUBJECT, message_access
from mailsync.selectors.due import accounts_due
from mailsync.sync.run import account_sync, history_start
from tests.factories import CompanyFactory, UserFactory

DEMO_EMAILS = [
    "giulia.rossi@demo.example",
    "marco.bianchi@demo.example",
    "sara.conti@demo.example",
    "emma.walsh@demo.example",
]


def run(command, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (User, Team, Company, Contact, Lead, Deal, Note, Task, Activity)
    }


def login(client, email, password):
    """Sign in through allauth's form, as a person would (by email address)."""
    response = client.post(
        "/accounts/login/", {"login": email, "password": password, "next": "/admin/"}
    )
    return response.status_code == 302 and "_auth_user_id" in client.session


# crm_demo


@pytest.mark.django_db
def test_demo_creates_a_believable_team_and_pipeline():
    out = run("crm_demo")

    team = Team.objects.get(name=DEMO_TEAM)
    members = list(team.members.order_by("pk"))
    assert [u.email for u in members] == DEMO_EMAILS
    assert [u.username for u in members][0] == "giulia.rossi"
    assert sum(u.groups.filter(name=MANAGER_GROUP).exists() for u in members) == 1
    assert sum(u.groups.filter(name=REP_GROUP).exists() for u in members) == 3
    for user in members:
        address = AccountEmailAddress.objects.get(user=user)
        assert address.email == user.email and address.verified and address.primary
    assert DEMO_PASSWORD in out
    assert all(email in out for email in DEMO_EMAILS)

    assert Company.objects.count() >= 15
    assert all(c.domains.exists() for c in Company.objects.filter(name__contains=" "))
    assert Contact.objects.count() >= 40
    for contact in Contact.objects.prefetch_related("emails", "phones"):
        assert 1 <= len(contact.emails.all()) <= 2
        assert 1 <= len(contact.phones.all()) <= 2
    assert Lead.objects.count() == 15
    assert set(Lead.objects.values_list("status", flat=True)) == set(Lead.Status.values)
    assert len(set(Lead.objects.values_list("source", flat=True))) >= 5

    assert Deal.objects.count() >= 20
    statuses = set(Deal.objects.values_list("status", flat=True))
    assert statuses == {"open", "won", "lost"}
    open_stages = set(Deal.objects.filter(status="open").values_list("stage_id", flat=True))
    assert open_stages == set(Stage.objects.filter(is_active=True).values_list("pk", flat=True))
    assert len(set(Deal.objects.values_list("currency", flat=True))) >= 2
    assert not Deal.objects.filter(status="open", expected_close__isnull=True).exists()
    assert not Deal.objects.exclude(status="open").filter(closed_at__isnull=True).exists()

    assert Note.objects.count() >= 10
    assert Task.objects.count() >= 10
    assert Task.objects.filter(done=True).exists()
    # Everything went through the services: each record has its "created" entry and deals moved.
    for model in (Company, Contact, Lead, Deal):
        kind = model._meta.model_name
        with_activity = Activity.objects.filter(verb="created", **{f"{kind}__isnull": False})
        assert with_activity.count() == model.objects.count()
    assert Activity.objects.filter(verb="stage_changed").exists()
    assert Activity.objects.filter(verb="won").exists()
    assert Activity.objects.filter(verb="converted").count() == 2


@pytest.mark.django_db
def test_demo_runs_once():
    run("crm_demo")
    before = counts()
    out = run("crm_demo")
    assert "already there" in out
    assert counts() == before


@pytest.mark.django_db
def test_demo_is_the_same_every_time():
    def snapshot():
        return (
            sorted(
                (c.name, tuple(e.address for e in c.emails.all()))
                for c in Contact.objects.prefetch_related("emails")
            ),
            sorted(Deal.objects.values_list("name", "value", "currency", "status")),
        )

    run("crm_demo")
    first = snapshot()
    for model in (Task, Note, Activity, Deal, Lead, Contact, Company):
        model.objects.all().delete()
    for model in (Message, Thread, MailAccount):  # accounts hold on to their users
        model.objects.all().delete()
    AccountEmailAddress.objects.all().delete()
    User.objects.all().delete()
    run("crm_demo")
    assert snapshot() == first


@pytest.mark.django_db
@pytest.mark.parametrize("email", DEMO_EMAILS)
def test_demo_users_can_sign_in(client, email):
    run("crm_demo")
    assert login(client, email, DEMO_PASSWORD)


# crm_demo: the mail


def demo_user(name: str) -> User:
    return User.objects.get(username=name)


@pytest.mark.django_db
def test_demo_gives_marco_and_sara_mailboxes_a_sync_would_leave_alone():
    run("crm_demo")
    accounts = MailAccount.objects.filter(auth="password").order_by("email")
    assert [a.email for a in accounts] == ["marco.bianchi@demo.example", "sara.conti@demo.example"]
    for account in accounts:
        assert account.secret == "demo"
        assert (account.imap_host, account.smtp_host) == ("imap.demo.example", "smtp.demo.example")
        assert account.status == MailAccount.Status.CONNECTED and account.next_sync_at is None
        assert account not in accounts_due()
        folders = {f.role: f for f in account.folders.all()}
        assert {r: f.name for r, f in folders.items()} == {"inbox": "INBOX", "sent": "Sent"}
        for folder in folders.values():
            uids = Sighting.objects.filter(folder=folder).values_list("uid", flat=True)
            assert folder.last_uid == max(uids) and folder.uidvalidity == 1
            assert folder.covered_since == history_start(account)
    assert accounts[0].sharing == "full" and accounts[1].sharing == "subject"


@pytest.mark.django_db
def test_demo_gives_emma_a_google_mailbox_to_reconnect(client):
    run("crm_demo")
    emma = demo_user("emma.walsh")
    account = emma.mail_account
    assert (account.auth, account.error_code) == ("google", "oauth_reconnect_required")
    assert account not in accounts_due()  # only Emma can fix it
    client.force_login(emma)
    page = client.get(reverse("mailsync:mailbox")).content.decode()
    assert "oauth_reconnect_required" in page and "Reconnect" in page
    assert "Token has been expired or revoked." in page
    # Reconnect explains that an operator has not registered the CRM with Google yet.
    client.post(reverse("mailsync:oauth_connect", args=["google"]))
    assert "not set up on this CRM yet" in client.get(reverse("mailsync:mailbox")).content.decode()


@pytest.mark.django_db
def test_syncing_a_demo_mailbox_ends_in_dns_not_found_and_keeps_its_mail(client):
    run("crm_demo")
    marco = demo_user("marco.bianchi")
    before = Message.objects.count()
    result = account_sync(account=marco.mail_account)
    assert result.error.code == "dns_not_found"  # imap.demo.example exists nowhere (RFC 2606)
    assert Message.objects.count() == before
    client.force_login(marco)
    page = client.get(reverse("mailsync:mailbox"))
    assert page.status_code == 200 and "imap.demo.example" in page.content.decode()


@pytest.mark.django_db
def test_demo_mail_went_through_the_pipeline_with_threaded_replies():
    run("crm_demo")
    assert 20 <= Message.objects.count() <= 40
    # The pipeline's marks: every message kept raw, seen in a folder, with its participants.
    for message in Message.objects.all():
        assert message.raw.size > 0
        assert message.sightings.exists() and message.participants.exists()
    replies = Message.objects.exclude(in_reply_to=[])
    assert replies.count() >= 8
    for reply in replies:
        parent = Message.objects.get(message_id=reply.in_reply_to[0])
        assert parent.thread_id == reply.thread_id
    assert Thread.objects.filter(messages__subject__startswith="Re: ").distinct().count() >= 6
    # Both languages, and one message in two mailboxes stored once.
    assert Message.objects.filter(subject__contains="proposta").exists()
    assert Message.objects.filter(subject__contains="Pricing").exists()
    assert (
        Message.objects.filter(sightings__account__email__startswith="sara")
        .filter(sightings__account__email__startswith="marco")
        .exists()
    )


@pytest.mark.django_db
def test_demo_mail_is_on_contacts_companies_deals_and_leads():
    run("crm_demo")
    links = MessageLink.objects
    for kind in ("contact", "company", "deal", "lead"):
        assert links.filter(**{f"{kind}__isnull": False}).count() >= 2, kind
    assert links.filter(company__isnull=False, origin="domain").exists()
    assert links.filter(deal__isnull=False, origin="deal").exists()  # the contact's only deal
    assert links.filter(deal__isnull=False, origin="thread").exists()  # its replies follow


@pytest.mark.django_db
def test_demo_has_a_thread_waiting_for_marco_to_choose_its_deal(client):
    run("crm_demo")
    choice = ThreadDealChoice.objects.get(deal__isnull=True)
    deals = Deal.objects.filter(pk__in=choice.candidates, status="open")
    assert deals.count() == 2
    shared = set(deals[0].contacts.all()) & set(deals[1].contacts.all())
    assert len(shared) == 1
    client.force_login(demo_user("marco.bianchi"))
    page = client.get(reverse("mail:deals_to_choose"))
    assert page.status_code == 200 and choice.thread.subject in page.content.decode()


@pytest.mark.django_db
def test_demo_ledger_has_a_blocked_sender_and_a_message_with_too_many_recipients(client):
    run("crm_demo")
    marco, sara = demo_user("marco.bianchi"), demo_user("sara.conti")
    blocked = SkipEntry.objects.get(code="blocked")
    assert blocked.account.user == marco and blocked.message is None
    assert BlockEntry.objects.filter(user=marco, value=blocked.from_address.partition("@")[2])
    assert not Participant.objects.filter(address=blocked.from_address).exists()

    crowded = SkipEntry.objects.get(code="too_many_recipients")
    assert crowded.account.user == sara
    assert crowded.message.headers_only and crowded.message.recipient_count > 100
    client.force_login(sara)
    page = client.get(reverse("mailsync:mailbox_skipped")).content.decode()
    assert crowded.subject in page and "Import anyway" in page
    assert set(SkipEntry.objects.values_list("code", flat=True)) == {
        "blocked",
        "too_many_recipients",
    }


@pytest.mark.django_db
def test_demo_unknown_senders_are_candidates_on_marcos_page(client):
    run("crm_demo")
    client.force_login(demo_user("marco.bianchi"))
    page = client.get(reverse("mailsync:candidates"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "olivia.grant@harbourlight.example" in text
    assert "marta.galli@lariana-textiles.example" in text
    assert "palestra-fitlife" not in text  # blocked mail brings no candidates


@pytest.mark.django_db
def test_demo_teammates_see_shared_mail_and_not_the_private_thread(client):
    run("crm_demo")
    marco, sara = demo_user("marco.bianchi"), demo_user("sara.conti")
    private = Thread.objects.get(visibility=Thread.Visibility.PRIVATE)
    marcos = Message.objects.filter(sightings__account__user=marco).exclude(
        sightings__account__user=sara
    )
    saras = Message.objects.filter(sightings__account__user=sara, headers_only=False).exclude(
        sightings__account__user=marco
    )
    for_sara = message_access(user=sara, messages=marcos)
    assert {for_sara[m.pk] for m in marcos if m.thread_id == private.pk} == {NONE}
    assert {for_sara[m.pk] for m in marcos if m.thread_id != private.pk} == {FULL}
    assert set(message_access(user=marco, messages=saras).values()) == {SUBJECT}
    client.force_login(sara)
    secret = private.messages.first()
    assert client.get(reverse("mail:message", args=[secret.pk])).status_code == 404
    shared = marcos.exclude(thread=private).filter(links__contact__isnull=False).first()
    assert client.get(reverse("mail:message", args=[shared.pk])).status_code == 200


@pytest.mark.django_db
def test_demo_mail_has_a_pdf_a_remote_image_and_an_inline_image(client):
    run("crm_demo")
    pdf = Attachment.objects.get(content_type="application/pdf")
    assert not pdf.inline and pdf.file.read().startswith(b"%PDF-1.4")
    photo = Attachment.objects.get(inline=True)
    assert photo.content_type == "image/png" and photo.content_id
    assert photo.file.read().startswith(b"\x89PNG")
    client.force_login(demo_user("marco.bianchi"))
    with_photo = client.get(reverse("mail:message", args=[photo.message_id])).content.decode()
    assert reverse("mail:attachment_inline", args=[photo.pk, "x"])[:-2] in with_photo
    remote = Message.objects.get(html__contains="https://media.")
    page = client.get(reverse("mail:message", args=[remote.pk])).content.decode()
    assert "data-remote-src" in page  # remote images wait for the reader's click


@pytest.mark.django_db
def test_demo_contact_and_message_pages_render_for_marco(client):
    run("crm_demo")
    client.force_login(demo_user("marco.bianchi"))
    link = MessageLink.objects.filter(contact__isnull=False, origin="address").first()
    contact_page = client.get(reverse("crm:contact_detail", args=[link.contact_id]))
    assert contact_page.status_code == 200
    assert link.message.subject.removeprefix("Re: ") in contact_page.content.decode()
    message_page = client.get(reverse("mail:message", args=[link.message_id]))
    assert message_page.status_code == 200
    assert link.message.subject in message_page.content.decode()
    mailbox = client.get(reverse("mailsync:mailbox"))
    assert mailbox.status_code == 200 and "marco.bianchi@demo.example" in mailbox.content.decode()


# crm_bootstrap


def _password(out: str) -> str:
    match = re.search(r"Password:\s+(\S+)", out)
    assert match, out
    return match.group(1)


@pytest.mark.django_db
def test_bootstrap_creates_one_superuser_and_loads_the_demo_once(client):
    first = run("crm_bootstrap")
    password = _password(first)
    assert "http://127.0.0.1:8000/" in first and "/admin/" in first
    assert "admin@localhost" in first
    assert Company.objects.exists()
    after_first = counts()

    second = run("crm_bootstrap")
    assert password not in second
    assert "Password" not in second
    assert "admin@localhost" in second
    assert counts() == after_first
    assert User.objects.filter(is_superuser=True).count() == 1

    admin = User.objects.get(is_superuser=True)
    assert admin.username == "admin" and admin.is_staff
    assert admin.team.name == DEMO_TEAM
    address = AccountEmailAddress.objects.get(user=admin)
    assert address.verified and address.primary and address.email == "admin@localhost"
    assert login(client, "admin@localhost", password)
    client.logout()
    assert client.login(username="admin", password=password)  # the admin's form


@pytest.mark.django_db
def test_bootstrap_email_option_and_no_demo():
    out = run("crm_bootstrap", "--email", "Ops@OurCo.example", "--no-demo")
    assert "ops@ourco.example" in out
    assert not Company.objects.exists()
    admin = User.objects.get(is_superuser=True)
    assert admin.team is None

    # Later, without --no-demo, the (still empty) database gets the demo and the admin the team.
    out = run("crm_bootstrap")
    assert "Password" not in out
    assert Company.objects.exists()
    admin.refresh_from_db()
    assert admin.team.name == DEMO_TEAM


@pytest.mark.django_db
def test_bootstrap_leaves_real_data_and_superusers_alone(alice):
    CompanyFactory(owner=alice)
    boss = UserFactory(username="boss", email="boss@ourco.example", is_superuser=True)
    out = run("crm_bootstrap")
    assert "Password" not in out
    assert "boss@ourco.example" in out
    assert not Team.objects.filter(name=DEMO_TEAM).exists()
    assert Company.objects.count() == 1
    assert list(User.objects.filter(is_superuser=True)) == [boss]


# Sign-up


@pytest.mark.django_db
def test_signed_up_users_are_reps():
    user = UserFactory(username="newbie")
    user.groups.clear()
    user_signed_up.send(sender=User, request=RequestFactory().get("/"), user=user)
    assert list(user.groups.values_list("name", flat=True)) == [REP_GROUP]


@pytest.mark.django_db
def test_signing_up_through_allauth_makes_a_rep(client, mailoutbox):
    response = client.post(
        "/accounts/signup/",
        {
            "email": "newrep@ourco.example",
            "password1": "a-long-enough-password-42",
            "password2": "a-long-enough-password-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="newrep@ourco.example")
    assert list(user.groups.values_list("name", flat=True)) == [REP_GROUP]
    assert "_auth_user_id" not in client.session  # the address must be verified first
    assert len(mailoutbox) == 1
