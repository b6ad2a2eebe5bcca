"""Who sees a thread beyond what its mailbox shares: only the rep whose mailbox holds it says.
Alice's mail, synced from the test Dovecot; Bob is on her team, Mallory manages it, Charlie is on
another team."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from mailsync.models import Thread
from mailsync.routing.sharing import thread_set_visibility
from mailsync.selectors.access import NONE, message_access
from tests.support.mail import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(dovecot, mail_user, account, ann):
    return deliver(dovecot, mail_user, account, sender="ann@acme.com", message_id="<v1@acme.com>")


def test_the_owner_makes_a_thread_private_and_a_teammate_loses_it(alice, bob, message):
    assert message_access(user=bob, messages=[message])[message.pk] > NONE
    thread_set_visibility(thread=message.thread, visibility="private", user=alice)
    assert Thread.objects.get(pk=message.thread_id).visibility == "private"
    assert message_access(user=bob, messages=[message])[message.pk] == NONE


@pytest.mark.parametrize("who", ["bob", "mallory", "charlie"])
def test_nobody_but_the_owner_changes_who_sees_a_thread(request, message, who):
    with pytest.raises(PermissionDenied):
        thread_set_visibility(
            thread=message.thread, visibility="shared", user=request.getfixturevalue(who)
        )
    assert Thread.objects.get(pk=message.thread_id).visibility == ""


def test_a_visibility_that_does_not_exist_changes_nothing(alice, message):
    with pytest.raises(ValidationError):
        thread_set_visibility(thread=message.thread, visibility="public", user=alice)
    assert Thread.objects.get(pk=message.thread_id).visibility == ""


def test_a_teammates_post_is_a_404_and_changes_nothing(client, bob, message):
    client.force_login(bob)
    url = f"/mail/threads/{message.thread_id}/visibility/"
    assert client.post(url, {"visibility": "shared"}).status_code == 404
    assert Thread.objects.get(pk=message.thread_id).visibility == ""
