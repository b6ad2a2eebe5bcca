from django import template
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, key, label):
    """A column heading that sorts the list by `key`, toggling the direction on a second click."""
    request = context["request"]
    current = context.get("sort", "")
    params = request.GET.copy()
    params.pop("page", None)
    if current == key:
        params["sort"], arrow, aria = f"-{key}", " ▲", "ascending"
    elif current == f"-{key}":
        params["sort"], arrow, aria = key, " ▼", "descending"
    else:
        params["sort"], arrow, aria = key, "", "none"
    return format_html(
        '<a href="?{}" aria-sort="{}">{}{}</a>', params.urlencode(), aria, label, arrow
    )


KIND_NAMES = {
    "lead": _("Lead"),
    "contact": _("Contact"),
    "company": _("Company"),
    "deal": _("Deal"),
}


@register.filter
def kind_name(record):
    return KIND_NAMES.get(getattr(record, "kind", ""), "")


@register.filter
def entry_type(entry):
    return entry._meta.model_name
