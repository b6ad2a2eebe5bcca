"""The record kinds and what points at a record, defined once for the CRM and the mail; a user's
team, as record ownership and the mail both read it."""

import pytest
from django.http import Http404

from crm import services
from crm.models import RECORD_MODELS, Company, Contact, Deal, Lead, Note, record_model
from crm.selectors import record_get, team_members, users_assignable_by
from tests.factories import ContactFactory, DealFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_kind_names_its_model():
    assert {"lead": Lead, "contact": Contact, "company": Company, "deal": Deal} == RECORD_MODELS
    assert all(record_model(kind)._meta.model_name == kind for kind in RECORD_MODELS)
    with pytest.raises(KeyError):
        record_model("task")


def test_a_note_points_at_its_record_by_kind_and_id_without_a_query(
    alice, django_assert_num_queries
):
    contact = ContactFactory(owner=alice)
    note = Note.objects.get(pk=services.note_add(record=contact, author=alice, body="Hi").pk)
    with django_assert_num_queries(0):
        assert note.record_key == ("contact", contact.pk)
    assert note.record == contact


def test_a_task_on_no_record_points_at_none(alice):
    task = services.task_add(record=None, created_by=alice, title="Call back", assignee=alice)
    assert (task.record_key, task.record) == (None, None)


def test_record_get_finds_a_teammates_record(alice, bob):
    deal = DealFactory(owner=bob)
    assert record_get(kind="deal", pk=deal.pk, user=alice) == deal


def test_record_get_is_a_404_for_another_team_or_an_unknown_kind(alice, charlie):
    deal = DealFactory(owner=alice)
    with pytest.raises(Http404):
        record_get(kind="deal", pk=deal.pk, user=charlie)
    with pytest.raises(Http404):
        record_get(kind="deals", pk=deal.pk, user=alice)


def test_a_team_includes_its_deactivated_members(alice, bob, mallory, charlie):
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    assert set(team_members(alice)) == {alice, bob, mallory}
    assert set(users_assignable_by(alice)) == {alice, mallory}


def test_a_user_without_a_team_is_a_team_of_one(alice):
    loner = UserFactory(username="loner")
    assert list(team_members(loner)) == [loner]
    assert list(users_assignable_by(loner)) == [loner]
