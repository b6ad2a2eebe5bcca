"""Human sentences for Activity rows, rendered in the reader's language."""

from django.utils.translation import gettext as _


def describe(activity) -> str:
    data = activity.data or {}
    actor = str(activity.actor) if activity.actor else _("Someone")
    verb = activity.verb
    if verb == "created":
        return _("%(actor)s created this record") % {"actor": actor}
    if verb == "updated":
        return _("%(actor)s edited this record") % {"actor": actor}
    if verb == "imported":
        return _("%(actor)s imported this record from a CSV file") % {"actor": actor}
    if verb == "converted":
        return _("%(actor)s converted the lead into a contact") % {"actor": actor}
    if verb == "stage_changed":
        return _("%(actor)s moved the deal from %(old)s to %(new)s") % {
            "actor": actor,
            "old": data.get("from", "?"),
            "new": data.get("to", "?"),
        }
    if verb == "won":
        return _("%(actor)s marked the deal as won") % {"actor": actor}
    if verb == "lost":
        if data.get("reason"):
            return _("%(actor)s marked the deal as lost: %(reason)s") % {
                "actor": actor,
                "reason": data["reason"],
            }
        return _("%(actor)s marked the deal as lost") % {"actor": actor}
    if verb == "reopened":
        return _("%(actor)s reopened the deal") % {"actor": actor}
    return f"{actor}: {verb}"
