import factory
from django.contrib.auth.models import Group

from crm import services as crm
from crm.models import (
    MANAGER_GROUP,
    REP_GROUP,
    Company,
    CompanyDomain,
    Contact,
    Deal,
    EmailAddress,
    Lead,
    Stage,
    Team,
    User,
)
from mailsync.models import MailAccount


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.LazyAttribute(lambda u: u.username.capitalize())
    password = factory.django.Password("password")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create:
            group, _ = Group.objects.get_or_create(
                name=MANAGER_GROUP if extracted == "manager" else REP_GROUP
            )
            self.groups.add(group)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    owner = factory.SubFactory(UserFactory)


class CompanyDomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CompanyDomain

    company = factory.SubFactory(CompanyFactory)
    domain = factory.Sequence(lambda n: f"company{n}.example")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    owner = factory.SubFactory(UserFactory)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = factory.Sequence(lambda n: f"Lead{n}")
    last_name = "Prospect"
    company_name = factory.Sequence(lambda n: f"Prospect Co {n}")
    owner = factory.SubFactory(UserFactory)


class EmailAddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailAddress

    address = factory.Sequence(lambda n: f"person{n}@example.org")


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    value = 1000
    currency = "EUR"
    stage = factory.LazyFunction(lambda: Stage.objects.order_by("position").first())
    owner = factory.SubFactory(UserFactory)


class MailAccountFactory(factory.django.DjangoModelFactory):
    """A rep's mailbox signing in with a password, encrypted as the app keeps it (the model's
    `secret`), a year of history. On made-up hosts unless given the test servers:
    `MailAccountFactory(user=alice, dovecot=dovecot, mail_user=mail_user)` signs in to that
    Dovecot (`dovecot` or `dovecot_plain`) as that user, SMTP on the Dovecot's host (a sync never
    sends); `smtpd=smtpd` sends through the test SMTP server."""

    class Meta:
        model = MailAccount

    class Params:
        dovecot = None  # tests.support.servers.Dovecot: .host, .ssl_port
        smtpd = None  # tests.support.servers.SMTPServer: .host, .ssl_port
        mail_user = None  # tests.support.fixtures.MailUser: .login, .password

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda a: a.mail_user.login if a.mail_user else a.user.email)
    login = factory.LazyAttribute(lambda a: a.email)
    # Model(secret=...) goes through the property's setter: only the ciphertext is stored.
    secret = factory.LazyAttribute(
        lambda a: a.mail_user.password if a.mail_user else "app-password"
    )
    imap_host = factory.LazyAttribute(
        lambda a: a.dovecot.host if a.dovecot else "imap.ourco.example"
    )
    imap_port = factory.LazyAttribute(lambda a: a.dovecot.ssl_port if a.dovecot else 993)
    smtp_host = factory.LazyAttribute(
        lambda a: a.smtpd.host if a.smtpd else a.dovecot.host if a.dovecot else "smtp.ourco.example"
    )
    smtp_port = factory.LazyAttribute(lambda a: a.smtpd.ssl_port if a.smtpd else 465)
    # A year, so that mail a test dates back months is still inside the sync's history.
    history_days = 365


def ann_at_acme(owner: User) -> Contact:
    """Ann (ann@acme.com) at Acme (acme.com), saved as a rep saves records: the contact that
    the tests' mail from ann@acme.com lands on."""
    company = crm.company_save(
        company=Company(name="Acme", owner=owner), actor=owner, domains=["acme.com"]
    )
    return crm.contact_save(
        contact=Contact(first_name="Ann", company=company, owner=owner),
        actor=owner,
        emails=["ann@acme.com"],
    )
