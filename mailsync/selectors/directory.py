"""The directory a rep's mail is matched against, as far as views and selectors need it too: the
addresses that are the team's own, which are never a customer.

Here, below routing, because the selectors that show mail (which side sent a message, the
candidates, the deal queue) read it as well as the routing that links mail: selectors never
import routing. The records each address and domain points at are gathered by
`mailsync.routing.links` itself, into `matching.Directory`.
"""

from allauth.account.models import EmailAddress as SignInAddress

from crm.models import User
from crm.selectors import team_members
from mailsync.models import MailAccount


def ignored_addresses(*, user: User) -> frozenset[str]:
    """The rep's own addresses and their teammates': mail among colleagues is not a customer's.

    Every address a member signs in with, has on their user, or syncs a mailbox of, lower-case.
    """
    team = team_members(user)
    addresses = set(team.exclude(email="").values_list("email", flat=True))
    addresses |= set(SignInAddress.objects.filter(user__in=team).values_list("email", flat=True))
    addresses |= set(MailAccount.objects.filter(user__in=team).values_list("email", flat=True))
    return frozenset(a.lower() for a in addresses)
