"""Who sees a thread beyond what its mailbox shares: the choice of the rep whose mail it is."""

from django.core.exceptions import PermissionDenied, ValidationError

from crm.models import User
from mailsync.models import Thread
from mailsync.selectors.access import thread_is_owned_by


def thread_set_visibility(*, thread: Thread, visibility: str, user: User) -> Thread:
    """Make a thread private, shared in full, or seen as its mailbox shares it ("").

    Only the rep whose mailbox the thread's mail came from decides (PermissionDenied for anyone
    else, teammates and managers included); a value that is not a Thread.Visibility is a
    ValidationError.
    """
    if not thread_is_owned_by(thread=thread, user=user):
        raise PermissionDenied("Only the rep whose mailbox holds the thread sets who sees it.")
    if visibility not in Thread.Visibility.values:
        raise ValidationError("Not a thread visibility: %(value)r", params={"value": visibility})
    thread.visibility = visibility
    thread.save(update_fields=["visibility"])
    return thread
