"""django-q2 entry points of the CRM: a few lines each, loading by id and calling a service."""

from crm import csv_jobs
from crm.models import CsvJob


def run_csv_job(job_id: int) -> str:
    job = CsvJob.objects.select_related("user").get(id=job_id)
    return csv_jobs.csv_job_run(job=job).status
