"""Signal receivers. Connected when the app is ready (see CrmConfig.ready)."""

from allauth.account.signals import user_signed_up
from django.contrib.auth.models import Group
from django.dispatch import receiver

from crm.models import REP_GROUP


@receiver(user_signed_up, dispatch_uid="crm_signed_up_users_are_reps")
def add_new_user_to_reps(sender, request, user, **kwargs):
    """Whoever signs up is a rep; an operator makes managers in the admin."""
    group, _created = Group.objects.get_or_create(name=REP_GROUP)
    user.groups.add(group)
