"""Mail on the CRM: one message, its attachments and raw form, and the hand edits of where a
thread lands (remove, add, choose the deal) and who sees it.

Who sees what is `message_access()` and nothing else. A message the user may not see
is a 404, never a 403: that would confirm that it exists.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm.models import RECORD_MODELS, Deal, record_model
from crm.redirects import redirect_next
from crm.selectors import record_choices, record_get
from mailsync.inbound.addresses import deal_address_for
from mailsync.models import Attachment, Message, Participant, Thread
from mailsync.routing import links, sharing
from mailsync.selectors.access import (
    FULL,
    METADATA,
    NONE,
    SUBJECT,
    message_access,
    message_direction_sent,
    message_is_owned_by,
)
from mailsync.selectors.deal_queue import deal_choices_waiting
from mailsync.selectors.messages import raw_bytes
from mailsync.views.html import sanitize_html

# The language switcher's one inline handler (templates/base.html), allowed by its hash.
LANGUAGE_SWITCH_HASH = "'sha256-osjxnKEPL/pQJbFk1dKsF7PYFmTyMWGmVSiL9inhxJY='"
SAFE_CONTENT_TYPES = {
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/plain",
    "text/csv",
    "text/calendar",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
}
# Served inline from our origin (a message's cid: images): raster formats only. SVG is left out:
# opened on its own, it is a document that can run script.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# How long the URL of an inline image, minted for one viewer by the message page, works.
INLINE_IMAGE_URL_SECONDS = 2 * 60 * 60
KIND_LABELS = {
    "contact": gettext_lazy("Contacts"),
    "company": gettext_lazy("Companies"),
    "deal": gettext_lazy("Deals"),
    "lead": gettext_lazy("Leads"),
}


def csp(*, images: bool = False) -> str:
    img = "'self' data:" + (" https:" if images else "")
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {img}",
            # Mail keeps its inline styles, in the sandboxed frame that inherits this policy.
            "style-src 'self' 'unsafe-inline'",
            f"script-src 'self' 'unsafe-hashes' {LANGUAGE_SWITCH_HASH}",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def strict_csp(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = csp()
        return response

    return wrapper


def _message_or_404(user, pk: int, minimum: int = METADATA) -> tuple[Message, int]:
    message = Message.objects.filter(pk=pk).select_related("thread").first()
    if message is None:
        raise Http404
    level = message_access(user=user, messages=[message])[message.pk]
    if level < minimum:
        raise Http404
    return message, level


def _thread_or_404(user, pk: int) -> Thread:
    """A thread with at least one message the user may see."""
    thread = Thread.objects.filter(pk=pk).first()
    if thread is None:
        raise Http404
    access = message_access(user=user, messages=thread.messages.only("pk", "thread_id"))
    if not any(level > NONE for level in access.values()):
        raise Http404
    return thread


def _visible_records(user, record_links):
    """The records of these links that the user may see."""
    wanted = {}
    for link in record_links:
        kind, pk = link.record_key
        wanted.setdefault(kind, set()).add(pk)
    visible = {}
    for kind, ids in wanted.items():
        for record in record_choices(model=record_model(kind), user=user).filter(pk__in=ids):
            visible[(kind, record.pk)] = record
    return visible


@login_required
@require_GET
def message_detail(request, pk):
    user = request.user
    message, level = _message_or_404(user, pk)
    images = level >= FULL and request.GET.get("images") == "1"
    participants = list(message.participants.all())
    record_links = list(message.links.select_related("created_by"))
    visible = _visible_records(user, record_links)
    on_records = []
    for link in record_links:
        record = visible.get(link.record_key)
        if record is not None:
            on_records.append({"kind": link.record_key[0], "record": record, "links": [link]})
    html = ""
    if level >= FULL and message.html:
        html = sanitize_html(
            message.html, allow_remote_images=images, inline_images=_inline_images(message, user)
        )
    choice = getattr(message.thread, "deal_choice", None) if message.thread else None
    deal_candidates = []
    if choice is not None and choice.deal_id is None:
        deal_candidates = list(
            record_choices(model=Deal, user=user).filter(pk__in=choice.candidates)
        )
    context = {
        "message": message,
        "show_subject": level >= SUBJECT,
        "show_body": level >= FULL,
        "sent": bool(message_direction_sent(user=user, messages=[message])),
        "senders": [p for p in participants if p.role == Participant.Role.FROM],
        "recipients": [
            p
            for p in participants
            if p.role in (Participant.Role.TO, Participant.Role.CC)
            or (p.role == Participant.Role.BCC and level >= FULL)
        ],
        "html": html,
        "images": images,
        "has_remote_images": bool(html) and "data-remote-src" in html,
        "attachments": list(message.attachments.filter(inline=False).order_by("pk"))
        if level >= FULL
        else [],
        "on_records": on_records,
        "record_options": [
            (str(KIND_LABELS[kind]), [(f"{kind}:{r.pk}", str(r)) for r in qs])
            for kind, qs in _record_options(user)
        ],
        "deal_candidates": deal_candidates,
        "is_owner": message_is_owned_by(message=message, user=user),
        "visibility_choices": Thread.Visibility.choices,
    }
    response = render(request, "mailsync/message.html", context)
    response["Content-Security-Policy"] = csp(images=images)
    return response


def _content_type(attachment: Attachment) -> str:
    return attachment.content_type.lower().split(";")[0].strip()


def _servable_inline(attachment: Attachment) -> bool:
    """An image of the message's own that a cid: URL may show: stored, with a Content-ID and
    a raster image type."""
    return (
        attachment.inline
        and bool(attachment.content_id)
        and not attachment.omitted
        and bool(attachment.file)
        and _content_type(attachment) in INLINE_IMAGE_TYPES
    )


def _inline_signer(attachment_pk: int) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"mailsync.inline-image:{attachment_pk}")


def _inline_images(message: Message, user) -> dict[str, str]:
    """Content-ID (lower case) -> the URL that serves it to `user`, for sanitize_html.

    The message's HTML is shown in a sandboxed frame, whose origin is opaque: its image
    requests are cross-site and carry no SameSite=Lax session cookie (seen in Chromium). So
    each URL carries its viewer, signed and short-lived, and the view checks that viewer's
    access again when it serves the image.
    """
    urls: dict[str, str] = {}
    for attachment in message.attachments.filter(inline=True).exclude(content_id="").order_by("pk"):
        if _servable_inline(attachment):
            token = _inline_signer(attachment.pk).sign(str(user.pk))
            urls.setdefault(
                attachment.content_id.lower(),
                reverse("mail:attachment_inline", args=[attachment.pk, token]),
            )
    return urls


def _record_options(user):
    for kind in ("contact", "company", "deal", "lead"):
        yield kind, record_choices(model=record_model(kind), user=user).order_by("pk")[:500]


@login_required
@require_GET
@strict_csp
def attachment_download(request, pk):
    attachment = get_object_or_404(Attachment.objects.select_related("message"), pk=pk)
    _message_or_404(request.user, attachment.message_id, minimum=FULL)
    if attachment.omitted or not attachment.file:
        raise Http404(_("This attachment was too large to store."))
    content_type = attachment.content_type.lower().split(";")[0].strip()
    if content_type not in SAFE_CONTENT_TYPES:
        content_type = "application/octet-stream"
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename or "attachment",
        content_type=content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def attachment_inline(request, pk, token):
    """A message's inline image (cid:), for its sanitized HTML: the same access as a download
    for the viewer the URL was made for, and nothing but a raster image is served from here.

    No login_required: the sandboxed frame sends no session cookie (see _inline_images). A
    signed-in user who is not the URL's viewer gets a 404 all the same.
    """
    try:
        viewer_pk = _inline_signer(pk).unsign(token, max_age=INLINE_IMAGE_URL_SECONDS)
    except signing.BadSignature:  # SignatureExpired included
        raise Http404 from None
    viewer = get_user_model().objects.filter(pk=viewer_pk, is_active=True).first()
    if viewer is None:
        raise Http404
    if request.user.is_authenticated and request.user.pk != viewer.pk:
        raise Http404
    attachment = get_object_or_404(Attachment.objects.select_related("message"), pk=pk)
    _message_or_404(viewer, attachment.message_id, minimum=FULL)
    if not _servable_inline(attachment):
        raise Http404
    response = FileResponse(attachment.file.open("rb"), content_type=_content_type(attachment))
    response["X-Content-Type-Options"] = "nosniff"
    # Opened on its own, the image runs nothing and loads nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
@strict_csp
def message_eml(request, pk):
    message, _level = _message_or_404(request.user, pk)
    if not message_is_owned_by(message=message, user=request.user) or not hasattr(message, "raw"):
        raise Http404
    response = HttpResponse(raw_bytes(message), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _record_from_post(request):
    kind, _sep, pk = request.POST.get("record", "").partition(":")
    if kind not in RECORD_MODELS or not pk.isdigit():
        raise Http404
    return record_get(kind=kind, pk=int(pk), user=request.user)


def _relink(request, target, change, done: str):
    """Put `target` (a thread or a message) on, or take it off, the record named in the form."""
    record = _record_from_post(request)
    change(target, record=record, user=request.user)
    messages.success(request, done % {"record": record})
    return redirect_next(request, record.get_absolute_url())


@login_required
@require_POST
def thread_remove(request, pk):
    return _relink(
        request,
        _thread_or_404(request.user, pk),
        lambda thread, **kw: links.thread_remove_from_record(thread=thread, **kw),
        _("The thread is off %(record)s. Later replies in it will stay off too."),
    )


@login_required
@require_POST
def thread_add(request, pk):
    return _relink(
        request,
        _thread_or_404(request.user, pk),
        lambda thread, **kw: links.thread_add_to_record(thread=thread, **kw),
        _("The thread is on %(record)s."),
    )


@login_required
@require_POST
def message_remove(request, pk):
    return _relink(
        request,
        _message_or_404(request.user, pk)[0],
        lambda message, **kw: links.message_remove_from_record(message=message, **kw),
        _("This message is off %(record)s."),
    )


@login_required
@require_POST
def message_add(request, pk):
    return _relink(
        request,
        _message_or_404(request.user, pk)[0],
        lambda message, **kw: links.message_add_to_record(message=message, **kw),
        _("This message is on %(record)s."),
    )


@login_required
@require_POST
def thread_deal(request, pk):
    thread = _thread_or_404(request.user, pk)
    choice = getattr(thread, "deal_choice", None)
    deal_id = request.POST.get("deal", "")
    if choice is None or not deal_id.isdigit() or int(deal_id) not in choice.candidates:
        raise Http404
    deal = record_get(kind="deal", pk=int(deal_id), user=request.user)
    links.thread_choose_deal(thread=thread, deal=deal, user=request.user)
    messages.success(request, _("The thread is on %(deal)s.") % {"deal": deal})
    return redirect_next(request, deal.get_absolute_url())


@login_required
@require_GET
def deals_to_choose(request):
    """The "choose a deal" queue: threads whose contacts have several open deals, each with
    its candidates to choose from right here (the form posts to thread_deal)."""
    page = deal_choices_waiting(user=request.user, page=request.GET.get("page"))
    return render(
        request,
        "mailsync/deals_to_choose.html",
        {"page_obj": page, "waiting": page.object_list},
    )


@login_required
@require_POST
def thread_visibility(request, pk):
    thread = _thread_or_404(request.user, pk)
    try:
        sharing.thread_set_visibility(
            thread=thread, visibility=request.POST.get("visibility", ""), user=request.user
        )
    except (PermissionDenied, ValidationError):
        raise Http404 from None  # the mail views' one answer to what a user may not do
    messages.success(
        request, _("Who sees this thread: %(v)s.") % {"v": thread.get_visibility_display()}
    )
    return redirect_next(request, "/")


@login_required
@require_POST
def deal_address_create(request, pk):
    """Give the deal its own BCC address (mail sent to it goes straight onto this deal). Anyone
    who may see the deal may ask; the address is the same for all of them."""
    deal = record_get(kind="deal", pk=pk, user=request.user)
    address = deal_address_for(deal=deal)
    if address is None:
        messages.error(
            request,
            _(
                "BCC addresses are not set up on this CRM: an operator must choose their domain "
                "first (MAILSYNC_BCC_DOMAIN, see the README)."
            ),
        )
    else:
        messages.success(
            request,
            _("Mail sent or forwarded to %(address)s now goes onto this deal.")
            % {"address": address.address},
        )
    return redirect_next(request, deal.get_absolute_url())
