"""The people in a rep's mail: the candidates list (addresses no lead or contact has yet, to add
in one click) and the block list (addresses and domains whose mail stays off the records).

Like the mailbox page, these only ever show and change the signed-in rep's own data.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.addresses import normalize_email
from crm.redirects import redirect_next
from mailsync.models import BlockEntry, MailAccount
from mailsync.routing import blocking, links
from mailsync.routing.candidates import PERSON_KINDS, NotACandidate, candidate_promote
from mailsync.selectors import candidates

PER_PAGE = 25


@login_required
@require_GET
def candidates_list(request):
    account = MailAccount.objects.filter(user=request.user).first()
    page = Paginator(candidates.candidates_for(user=request.user), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "mailsync/candidates.html",
        {
            "account": account,
            "page_obj": page,
            "candidates": candidates.candidates_page(user=request.user, rows=page.object_list),
        },
    )


@login_required
@require_POST
def candidate_add(request):
    """Add a candidate as a lead or a contact; the signal then links its mail at once."""
    kind = request.POST.get("kind")
    if kind not in PERSON_KINDS:
        return HttpResponseBadRequest()
    try:
        address = normalize_email(request.POST.get("address", ""))
    except ValidationError:
        raise Http404 from None
    try:
        record = candidate_promote(
            user=request.user, address=address, kind=kind, name=request.POST.get("name", "")
        )
    except NotACandidate:
        messages.error(request, _("%(address)s is not in your candidates.") % {"address": address})
        return redirect_next(request, reverse("mailsync:candidates"))
    if kind == "lead":
        text = _("%(address)s is now a lead: its mail is on the record.")
    else:
        text = _("%(address)s is now a contact: its mail is on the record.")
    messages.success(request, text % {"address": address})
    if request.POST.get("open"):
        return redirect(record.get_absolute_url())
    return redirect_next(request, reverse("mailsync:candidates"))


@login_required
def blocklist(request):
    error, value = "", ""
    if request.method == "POST":
        value = request.POST.get("value", "")
        try:
            entry = blocking.block_add(user=request.user, value=value)
        except ValidationError as exc:
            error = blocking.validation_message(exc)
        else:
            messages.success(request, _("%(value)s is blocked.") % {"value": entry.value})
            return redirect_next(request, reverse("mailsync:blocklist"))
    entries = BlockEntry.objects.filter(user=request.user)
    return render(
        request,
        "mailsync/blocklist.html",
        {"entries": entries, "error": error, "value": value},
        status=400 if error else 200,
    )


@login_required
@require_POST
def block_remove(request, pk: int):
    entry = get_object_or_404(BlockEntry, pk=pk, user=request.user)
    value = entry.value
    links.block_remove(entry=entry)
    messages.success(request, _("%(value)s is no longer blocked.") % {"value": value})
    return redirect("mailsync:blocklist")
