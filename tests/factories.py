import factory
from django.contrib.auth.models import Group

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
