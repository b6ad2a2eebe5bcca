"""The demo data, the start-up bootstrap and what happens to people who sign up."""

import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress as AccountEmailAddress
from allauth.account.signals import user_signed_up
from django.core.management import call_command
from django.test import RequestFactory

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
    AccountEmailAddress.objects.all().delete()
    User.objects.all().delete()
    run("crm_demo")
    assert snapshot() == first


@pytest.mark.django_db
@pytest.mark.parametrize("email", DEMO_EMAILS)
def test_demo_users_can_sign_in(client, email):
    run("crm_demo")
    assert login(client, email, DEMO_PASSWORD)


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
