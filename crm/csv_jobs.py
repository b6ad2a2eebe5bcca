"""CSV imports and exports too large for a web request, run as django-q2 jobs.

A 50,000-row import takes minutes: in a request it would tie up a web worker, and gunicorn would
kill it half way through. Above `CRM_CSV_BACKGROUND_ROWS` rows the view stores the file, creates
a `CsvJob` and queues `crm.tasks.run_csv_job`; the job page shows its progress and, at the end,
the report (an import) or the download (an export). The logic of the import and the export
itself is crm/csv_io.py, the same as for the small files imported in the request.
"""

from __future__ import annotations

import datetime
import logging
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_q.exceptions import TimeoutException
from django_q.tasks import async_task

from crm import csv_io
from crm.models import CsvJob, User
from crm.selectors import records_for_user

logger = logging.getLogger(__name__)


def csv_runs_in_background(*, rows: int) -> bool:
    return rows > settings.CRM_CSV_BACKGROUND_ROWS


def _enqueue(job: CsvJob) -> None:
    # Not on_commit: the views run in autocommit, so the job's row is already committed here and
    # the worker finds it; with the test settings' "sync" the job then runs before we return.
    async_task("crm.tasks.run_csv_job", job.pk, task_name=f"csv-job-{job.pk}", group="csv")


def csv_job_import_start(
    *, user: User, kind: str, data: bytes, filename: str, rows: int, language: str = ""
) -> CsvJob:
    """Keep an uploaded file, already read as valid (`csv_io.read_import`), and queue its import."""
    job = CsvJob(
        kind=kind,
        direction=CsvJob.Direction.IMPORT,
        user=user,
        filename=filename[:255],
        total=rows,
        language=language or translation.get_language() or "",
    )
    job.file.save("upload.csv", ContentFile(data), save=False)
    job.full_clean()
    job.save()
    _enqueue(job)
    return job


def csv_job_export_start(*, user: User, kind: str, rows: int, language: str = "") -> CsvJob:
    """Queue the export of the records of `kind` that `user` may see (counted: `rows`)."""
    job = CsvJob(
        kind=kind,
        direction=CsvJob.Direction.EXPORT,
        user=user,
        filename=f"{kind}-{timezone.localdate().isoformat()}.csv",
        total=rows,
        language=language or translation.get_language() or "",
    )
    job.full_clean()
    job.save()
    _enqueue(job)
    return job


def _progress(job: CsvJob):
    def report(done: int, total: int) -> None:
        # An UPDATE of its own, committed at once, so that the page sees it while the job runs.
        CsvJob.objects.filter(pk=job.pk).update(done=done, total=total, updated_at=timezone.now())
        job.done, job.total = done, total

    return report


def _finish(job: CsvJob, *, status: str, error: str = "", **fields) -> CsvJob:
    now = timezone.now()
    values = {"status": status, "error": error, "finished_at": now, "updated_at": now, **fields}
    CsvJob.objects.filter(pk=job.pk).update(**values)
    for name, value in values.items():
        setattr(job, name, value)
    return job


def csv_job_run(*, job: CsvJob) -> CsvJob:
    """Run a queued job to its end: done with its report or file, or failed with the reason.

    Whatever goes wrong ends the job `failed`, never left `running`; a worker killed outright is
    caught later by `csv_job_fail_if_stale`.
    """
    # Claim it, so that a task delivered twice does not import the file twice.
    claimed = CsvJob.objects.filter(pk=job.pk, status=CsvJob.Status.QUEUED).update(
        status=CsvJob.Status.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
    )
    if not claimed:
        job.refresh_from_db()
        return job
    job.status = CsvJob.Status.RUNNING
    try:
        with translation.override(job.language or settings.LANGUAGE_CODE):
            if job.direction == CsvJob.Direction.IMPORT:
                return _run_import(job)
            return _run_export(job)
    except csv_io.ImportRejected as exc:
        return _finish(job, status=CsvJob.Status.FAILED, error=exc.message)
    except TimeoutException:
        # django-q2's time limit: record it, then let the worker go down as django-q2 expects.
        with translation.override(job.language or settings.LANGUAGE_CODE):
            _finish(job, status=CsvJob.Status.FAILED, error=_timeout_message())
        raise
    except Exception as exc:
        # The traceback goes to the log for the operator; the rep sees what kind of error it was,
        # not its text, which may hold server paths or SQL.
        logger.exception("CSV job %s failed", job.pk)
        with translation.override(job.language or settings.LANGUAGE_CODE):
            reason = _(
                "The job stopped because of an error (%(error)s); the details are in the "
                "server's log. Try again, or ask an operator."
            ) % {"error": type(exc).__name__}
        return _finish(job, status=CsvJob.Status.FAILED, error=reason)


def _run_import(job: CsvJob) -> CsvJob:
    with job.file.open("rb") as source:
        data = source.read()
    result = csv_io.import_csv(
        job.kind, data, user=job.user, max_bytes=len(data), progress=_progress(job)
    )
    return _finish(job, status=CsvJob.Status.DONE, report=csv_io.result_to_report(result))


def _run_export(job: CsvJob) -> CsvJob:
    queryset = records_for_user(model=csv_io.MODELS[job.kind], user=job.user)
    with tempfile.TemporaryFile() as out:
        written = csv_io.export_csv_to_file(
            job.kind, queryset, out, total=job.total, progress=_progress(job)
        )
        out.seek(0)
        job.file.save("export.csv", File(out), save=False)
    CsvJob.objects.filter(pk=job.pk).update(file=job.file.name)
    return _finish(job, status=CsvJob.Status.DONE, done=written, total=written)


def _timeout_message() -> str:
    return _(
        "The job stopped before the end: it ran out of time or its worker was stopped. Start it "
        "again; importing a file again does not duplicate the rows already imported."
    )


def _stale_after() -> datetime.timedelta:
    # A running job moves `updated_at` every few hundred rows; django-q2 kills a task after
    # Q_CLUSTER["timeout"], so a job silent for longer than that has lost its worker.
    return datetime.timedelta(seconds=settings.Q_CLUSTER.get("timeout", 600) + 60)


def csv_job_fail_if_stale(*, job: CsvJob) -> CsvJob:
    """End as failed a running job whose worker died (killed, out of memory, machine restarted)."""
    if job.status != CsvJob.Status.RUNNING or job.updated_at > timezone.now() - _stale_after():
        return job
    updated = CsvJob.objects.filter(
        pk=job.pk, status=CsvJob.Status.RUNNING, updated_at=job.updated_at
    ).update(
        status=CsvJob.Status.FAILED,
        error=_timeout_message(),
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    job.refresh_from_db()
    if updated:
        logger.warning("CSV job %s lost its worker and was marked failed", job.pk)
    return job


# Reads -------------------------------------------------------------------------------------


def csv_jobs_of(*, user: User) -> QuerySet:
    return CsvJob.objects.filter(user=user)


def csv_job_get(*, user: User, pk: int) -> CsvJob:
    """A job of the user's own; anyone else's is a 404, like a record of another team."""
    job = csv_jobs_of(user=user).filter(pk=pk).first()
    if job is None:
        raise Http404(_("There is no such CSV job."))
    return job
