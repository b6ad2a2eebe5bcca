"""Importing and exporting records as CSV from the web UI; the logic is in crm/csv_io.py."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from crm.csv_io import KINDS, MODELS, ImportRejected, column_help, export_csv, import_csv
from crm.selectors import records_for_user

TITLES = {
    "leads": gettext_lazy("Import leads"),
    "contacts": gettext_lazy("Import contacts"),
    "companies": gettext_lazy("Import companies"),
    "deals": gettext_lazy("Import deals"),
}
EXPORT_LABELS = {
    "leads": gettext_lazy("Export leads"),
    "contacts": gettext_lazy("Export contacts"),
    "companies": gettext_lazy("Export companies"),
    "deals": gettext_lazy("Export deals"),
}
LIST_URLS = {
    "leads": "crm:lead_list",
    "contacts": "crm:contact_list",
    "companies": "crm:company_list",
    "deals": "crm:deal_list",
}


class CsvImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.CRM_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is too big (%(size)s): the limit is %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        return upload


def _kind_or_404(kind: str) -> str:
    if kind not in KINDS:
        raise Http404(_("There is no such kind of record."))
    return kind


def _list_url(kind: str) -> str | None:
    try:
        return reverse(LIST_URLS[kind])
    except NoReverseMatch:
        return None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def csv_import(request, kind):
    kind = _kind_or_404(kind)
    result = None
    filename = ""
    if request.method == "POST":
        form = CsvImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            filename = upload.name
            try:
                result = import_csv(kind, upload, user=request.user)
            except ImportRejected as exc:
                form.add_error("file", exc.message)
    else:
        form = CsvImportForm()
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "crm/csv_import.html",
        {
            "kind": kind,
            "title": TITLES[kind],
            "export_label": EXPORT_LABELS[kind],
            "list_url": _list_url(kind),
            "form": form,
            "result": result,
            "filename": filename,
            "columns": column_help(kind),
            "max_size": settings.CRM_IMPORT_MAX_BYTES,
        },
        status=status,
    )


@login_required
@require_GET
def csv_export(request, kind):
    kind = _kind_or_404(kind)
    queryset = records_for_user(model=MODELS[kind], user=request.user)
    response = StreamingHttpResponse(
        export_csv(kind, queryset, bom=True), content_type="text/csv; charset=utf-8"
    )
    filename = f"{kind}-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
