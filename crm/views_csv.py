"""Importing and exporting records as CSV from the web UI; the logic is in crm/csv_io.py."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import csv_jobs
from crm.csv_io import (
    KINDS,
    MODELS,
    ImportRejected,
    column_help,
    export_csv,
    import_table,
    read_bytes,
    read_import,
    report_to_result,
)
from crm.models import CsvJob
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
                data = read_bytes(upload)
                table = read_import(kind, data)
            except ImportRejected as exc:
                form.add_error("file", exc.message)
            else:
                if csv_jobs.csv_runs_in_background(rows=len(table.rows)):
                    # Too long for a request: a job imports it, and its page shows the progress.
                    job = csv_jobs.csv_job_import_start(
                        user=request.user,
                        kind=kind,
                        data=data,
                        filename=filename,
                        rows=len(table.rows),
                        language=translation.get_language(),
                    )
                    return redirect(job)
                result = import_table(kind, table, user=request.user)
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
            "background_rows": settings.CRM_CSV_BACKGROUND_ROWS,
            "jobs": csv_jobs.csv_jobs_of(user=request.user).filter(kind=kind)[:5],
        },
        status=status,
    )


@login_required
@require_GET
def csv_export(request, kind):
    kind = _kind_or_404(kind)
    queryset = records_for_user(model=MODELS[kind], user=request.user)
    rows = queryset.count()
    if csv_jobs.csv_runs_in_background(rows=rows):
        # Too many for one request: offer a job (a POST: a link or a prefetch must not start one).
        return render(
            request,
            "crm/csv_export.html",
            {
                "kind": kind,
                "title": EXPORT_LABELS[kind],
                "rows": rows,
                "list_url": _list_url(kind),
                "jobs": csv_jobs.csv_jobs_of(user=request.user).filter(kind=kind)[:5],
            },
        )
    response = StreamingHttpResponse(
        export_csv(kind, queryset, bom=True), content_type="text/csv; charset=utf-8"
    )
    filename = f"{kind}-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def csv_export_start(request, kind):
    kind = _kind_or_404(kind)
    rows = records_for_user(model=MODELS[kind], user=request.user).count()
    job = csv_jobs.csv_job_export_start(
        user=request.user, kind=kind, rows=rows, language=translation.get_language()
    )
    return redirect(job)


@login_required
@require_GET
def csv_job(request, pk):
    """A job's progress while it runs (polled by htmx, or refreshed), then its report or file."""
    job = csv_jobs.csv_job_get(user=request.user, pk=pk)
    job = csv_jobs.csv_job_fail_if_stale(job=job)
    context = {
        "job": job,
        "result": report_to_result(job.report) if job.report else None,
        "filename": job.filename,
        "title": (TITLES if job.direction == CsvJob.Direction.IMPORT else EXPORT_LABELS)[job.kind],
        "list_url": _list_url(job.kind),
    }
    if request.htmx:
        return render(request, "crm/_csv_job_status.html", context)
    return render(request, "crm/csv_job.html", context)


@login_required
@require_GET
def csv_job_download(request, pk):
    job = csv_jobs.csv_job_get(user=request.user, pk=pk)
    if not (job.direction == CsvJob.Direction.EXPORT and job.status == CsvJob.Status.DONE):
        raise Http404(_("This export is not ready."))
    return FileResponse(
        job.file.open("rb"),
        as_attachment=True,
        filename=job.filename,
        content_type="text/csv; charset=utf-8",
    )
