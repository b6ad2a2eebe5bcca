"""A record that gets an email address, or a company that gets a web domain, gets the mail
already stored for it, at once: whether the row is new, edited in place (the admin's inlines edit
rows) or moved to another record. Always after the commit, and a fixed number of queries."""

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from crm.models import CompanyDomain, EmailAddress

# What a saved row pointed at before the save (set by pre_save, read by post_save).
_BEFORE = "_mailsync_before"


def _remember(instance, fields: tuple[str, ...], update_fields) -> None:
    """Note what an existing row pointed at, to tell in post_save whether it now points
    elsewhere. One query, and none for a save that touches none of `fields`."""
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(fields):
        setattr(instance, _BEFORE, tuple(getattr(instance, f) for f in fields))
        return
    setattr(
        instance,
        _BEFORE,
        type(instance).objects.filter(pk=instance.pk).values_list(*fields).first(),
    )


def _moved(instance, fields: tuple[str, ...], created: bool) -> bool:
    """Whether the row is new or now points at another address, domain or record."""
    before = instance.__dict__.pop(_BEFORE, None)
    return created or before != tuple(getattr(instance, f) for f in fields)


# The old address (or domain) keeps the links it made. Taking mail off a record is a rep's
# decision, remembered as such ("a removed link stays removed"); an edit that corrects a typo or
# moves an address is not one, and must not silently take mail off a record that a rep may have
# read or kept. A rep who wants it off removes it, and that removal then stays.
_ADDRESS_FIELDS = ("address", "contact_id", "lead_id")
_DOMAIN_FIELDS = ("domain", "company_id")


@receiver(pre_save, sender=EmailAddress, dispatch_uid="mailsync-address-before")
def remember_address(sender, instance: EmailAddress, update_fields=None, **kwargs):
    _remember(instance, _ADDRESS_FIELDS, update_fields)


@receiver(post_save, sender=EmailAddress, dispatch_uid="mailsync-link-existing-mail")
def link_existing_mail(sender, instance: EmailAddress, created: bool, raw=False, **kwargs):
    if raw or not _moved(instance, _ADDRESS_FIELDS, created):
        return  # e.g. only its position changed
    from mailsync.routing.links import address_link_existing_mail

    address, owner = instance.address, instance.record.owner
    transaction.on_commit(lambda: address_link_existing_mail(addresses=[address], owner=owner))


@receiver(pre_save, sender=CompanyDomain, dispatch_uid="mailsync-domain-before")
def remember_domain(sender, instance: CompanyDomain, update_fields=None, **kwargs):
    _remember(instance, _DOMAIN_FIELDS, update_fields)


@receiver(post_save, sender=CompanyDomain, dispatch_uid="mailsync-link-domain-mail")
def link_existing_domain_mail(sender, instance: CompanyDomain, created: bool, raw=False, **kwargs):
    if raw or not _moved(instance, _DOMAIN_FIELDS, created):
        return
    from mailsync.routing.links import domain_link_existing_mail

    domain, owner = instance.domain, instance.company.owner
    transaction.on_commit(lambda: domain_link_existing_mail(domain=domain, owner=owner))
