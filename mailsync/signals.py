"""A record that gets a new email address gets the mail already stored for it, at once."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from crm.models import EmailAddress


@receiver(post_save, sender=EmailAddress, dispatch_uid="mailsync-link-existing-mail")
def link_existing_mail(sender, instance: EmailAddress, created: bool, **kwargs):
    if not created:
        return
    from mailsync.links import address_link_existing_mail

    record = instance.contact or instance.lead
    transaction.on_commit(
        lambda: address_link_existing_mail(addresses=[instance.address], owner=record.owner)
    )
