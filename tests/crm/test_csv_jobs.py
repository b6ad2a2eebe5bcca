"""Large CSV imports and exports run as django-q2 jobs (crm/csv_jobs.py, crm/tasks.py) with their
progress on a page. The test settings run django-q2 tasks inline, so a view that queues a job
returns with the job finished; queued and running jobs are made directly."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm import csv_io, csv_jobs, tasks
from crm.csv_io import import_csv
from crm.models import Contact, CsvJob
from tests.factories import ContactFactory, EmailAddressFactory


@pytest.fixture
def background_above_3_rows(settings):
    settings.CRM_CSV_BACKGROUND_ROWS = 3


def people_csv(count: int, bad_line: int | None = None) -> bytes:
    """A contacts file of `count` rows; the row on `bad_line` (the header is line 1) is bad."""
    lines = ["first_name,last_name,email"]
    for n in range(count):
        line = n + 2
        address = "not-an-address@" if line == bad_line else f"person{n}@people.example"
        lines.append(f"Person,{n},{address}")
    return ("\n".join(lines) + "\n").encode()


def upload(data: bytes, name: str = "people.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def job_of(user, **fields) -> CsvJob:
    defaults = {"kind": "contacts", "direction": CsvJob.Direction.IMPORT, "filename": "big.csv"}
    return CsvJob.objects.create(user=user, **{**defaults, **fields})


def get_htmx(client, url):
    return client.get(url, HTTP_HX_REQUEST="true")


# ---------------------------------------------------------------------------------------------
# Imports


def test_an_import_above_the_threshold_runs_as_a_job_and_its_page_shows_the_report(
    alice, alice_client, background_above_3_rows
):
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]), {"file": upload(people_csv(5, bad_line=4))}
    )

    job = CsvJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.user, job.kind, job.direction, job.filename) == (
        alice,
        "contacts",
        CsvJob.Direction.IMPORT,
        "people.csv",
    )
    assert (job.status, job.done, job.total) == (CsvJob.Status.DONE, 5, 5)
    assert job.started_at and job.finished_at
    assert job.report["created"] == 4
    assert job.report["errors"] == [[4, "“not-an-address@” is not a valid email address."]]
    assert Contact.objects.filter(owner=alice).count() == 4
    # The upload is kept in storage under a random name, not the user's file name.
    assert default_storage.exists(job.file.name) and "people" not in job.file.name

    body = alice_client.get(job.get_absolute_url()).content.decode()
    assert "4 records created" in body
    assert "line 4: “not-an-address@” is not a valid email address." in body
    assert "hx-trigger" not in body and 'http-equiv="refresh"' not in body


def test_an_import_at_the_threshold_stays_in_the_request(alice_client, background_above_3_rows):
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]), {"file": upload(people_csv(3))}
    )
    assert response.status_code == 200
    assert "3 records created" in response.content.decode()
    assert not CsvJob.objects.exists()


def test_a_rejected_large_file_is_refused_in_the_request_without_a_job(
    alice_client, background_above_3_rows
):
    data = b"lifecycle stage\n" + b"lead\n" * 10
    response = alice_client.post(
        reverse("crm:csv_import", args=["contacts"]), {"file": upload(data)}
    )
    assert response.status_code == 400
    assert "no column that identifies a contact" in response.content.decode()
    assert not CsvJob.objects.exists()


def test_the_import_page_lists_the_users_own_recent_jobs(alice_client, alice, bob):
    mine = job_of(alice, filename="mine.csv", status=CsvJob.Status.RUNNING)
    job_of(bob, filename="bobs.csv")
    body = alice_client.get(reverse("crm:csv_import", args=["contacts"])).content.decode()
    assert mine.get_absolute_url() in body and "mine.csv" in body
    assert "bobs.csv" not in body


def test_imports_report_progress_every_few_hundred_rows(alice):
    calls = []
    import_csv("contacts", people_csv(450), user=alice, progress=lambda *done: calls.append(done))
    every = csv_io.PROGRESS_EVERY
    assert calls == [(every, 450), (2 * every, 450), (450, 450)]


# ---------------------------------------------------------------------------------------------
# The job page while it runs


def test_the_page_of_a_running_import_shows_rows_done_of_total_and_refreshes_itself(
    alice, alice_client
):
    job = job_of(alice, status=CsvJob.Status.RUNNING, total=5000, done=1400)

    response = alice_client.get(job.get_absolute_url())

    assert response.status_code == 200
    body = response.content.decode()
    assert "Importing…" in body
    assert "1400 of 5000 rows" in body
    assert '<progress max="5000" value="1400">' in body
    # htmx polls the status; without JavaScript the page refreshes itself, or by the link.
    assert f'hx-get="{job.get_absolute_url()}" hx-trigger="every 2s"' in body
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in body
    assert f'<a href="{job.get_absolute_url()}">Refresh</a>' in body


def test_htmx_polling_gets_only_the_status_and_stops_once_the_job_is_over(alice, alice_client):
    job = job_of(alice, status=CsvJob.Status.RUNNING, total=5000, done=1400)

    body = get_htmx(alice_client, job.get_absolute_url()).content.decode()
    assert body.startswith('<section id="csv-job"') and "<html" not in body
    assert 'hx-trigger="every 2s"' in body

    CsvJob.objects.filter(pk=job.pk).update(
        status=CsvJob.Status.DONE,
        done=5000,
        report={"kind": "contacts", "created": 5000, "errors": [[7, "bad"]]},
    )
    body = get_htmx(alice_client, job.get_absolute_url()).content.decode()
    assert "hx-trigger" not in body
    assert "5000 records created" in body and "line 7: bad" in body


def test_the_page_of_a_queued_job_says_it_is_waiting(alice, alice_client):
    job = job_of(alice, total=2500)
    body = alice_client.get(job.get_absolute_url()).content.decode()
    assert "Waiting to start" in body
    assert "2500 rows are waiting for the job runner." in body
    assert 'hx-trigger="every 2s"' in body


# ---------------------------------------------------------------------------------------------
# Exports


def test_an_export_above_the_threshold_is_prepared_by_a_job_and_offered_for_download(
    alice, bob, charlie, alice_client, background_above_3_rows
):
    for n in range(4):
        contact = ContactFactory(first_name=f"Mine{n}", owner=alice if n % 2 else bob)
        EmailAddressFactory(contact=contact, address=f"mine{n}@ours.example")
    ContactFactory(first_name="Charlies", owner=charlie)

    page = alice_client.get(reverse("crm:csv_export", args=["contacts"]))
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "There are 4 records to export" in body
    assert f'action="{reverse("crm:csv_export_start", args=["contacts"])}"' in body
    assert not CsvJob.objects.exists()  # showing the page starts nothing

    response = alice_client.post(reverse("crm:csv_export_start", args=["contacts"]))

    job = CsvJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert (job.direction, job.status, job.done, job.total) == ("export", "done", 4, 4)
    body = alice_client.get(job.get_absolute_url()).content.decode()
    assert "Your export is ready" in body and "4 records exported." in body
    download_url = reverse("crm:csv_job_download", args=[job.pk])
    assert download_url in body

    download = alice_client.get(download_url)
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.date.today().isoformat()
    assert download["Content-Disposition"] == f'attachment; filename="contacts-{today}.csv"'
    content = b"".join(download.streaming_content).decode("utf-8")
    assert content.startswith("\ufefffirst_name,last_name,email")
    assert all(f"Mine{n}" in content for n in range(4))
    assert "Charlies" not in content


def test_an_export_at_the_threshold_is_downloaded_at_once(alice, alice_client, settings):
    settings.CRM_CSV_BACKGROUND_ROWS = 1
    ContactFactory(first_name="Only", owner=alice)
    response = alice_client.get(reverse("crm:csv_export", args=["contacts"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "Only" in b"".join(response.streaming_content).decode()
    assert not CsvJob.objects.exists()


def test_the_export_job_file_imports_back_unchanged(alice, background_above_3_rows):
    for n in range(5):
        ContactFactory(first_name=f"Same{n}", last_name="Person", owner=alice)
    job = csv_jobs.csv_job_export_start(user=alice, kind="contacts", rows=5)
    job.refresh_from_db()
    with job.file.open("rb") as exported:
        result = import_csv("contacts", exported.read(), user=alice)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 5)


def test_an_unfinished_export_cannot_be_downloaded(alice, alice_client):
    job = job_of(alice, direction=CsvJob.Direction.EXPORT, status=CsvJob.Status.RUNNING)
    assert alice_client.get(reverse("crm:csv_job_download", args=[job.pk])).status_code == 404


def test_an_import_job_offers_no_download(alice, alice_client):
    job = job_of(alice, status=CsvJob.Status.DONE)
    job.file.save("upload.csv", ContentFile(b"email\nx@y.example\n"))
    assert alice_client.get(reverse("crm:csv_job_download", args=[job.pk])).status_code == 404


# ---------------------------------------------------------------------------------------------
# Only the user who asked


def test_another_users_job_and_its_download_are_404_even_on_the_same_team(
    alice, bob, client, charlie
):
    job = job_of(alice, direction=CsvJob.Direction.EXPORT, status=CsvJob.Status.DONE)
    job.file.save("export.csv", ContentFile("\ufefffirst_name\nSecret\n".encode()))
    for other in (bob, charlie):
        client.force_login(other)
        assert client.get(job.get_absolute_url()).status_code == 404
        assert client.get(reverse("crm:csv_job_download", args=[job.pk])).status_code == 404
    client.force_login(alice)
    assert client.get(reverse("crm:csv_job_download", args=[job.pk])).status_code == 200


def test_job_pages_need_login(alice, client):
    job = job_of(alice)
    for url in (job.get_absolute_url(), reverse("crm:csv_job_download", args=[job.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


# ---------------------------------------------------------------------------------------------
# Crashes end failed, never stuck running


def test_a_job_that_crashes_ends_failed_with_the_reason_shown(alice, alice_client, caplog):
    job = job_of(alice)
    job.file.save("upload.csv", ContentFile(people_csv(5)))
    default_storage.delete(job.file.name)  # the upload is gone when the worker gets to it

    assert tasks.run_csv_job(job.pk) == CsvJob.Status.FAILED

    job.refresh_from_db()
    assert job.status == CsvJob.Status.FAILED and job.finished_at
    assert job.error.startswith("The job stopped because of an error (FileNotFoundError)")
    assert str(default_storage.location) not in job.error  # no server paths for the rep
    assert f"CSV job {job.pk} failed" in caplog.text and "Traceback" in caplog.text
    body = alice_client.get(job.get_absolute_url()).content.decode()
    assert "The job failed" in body and "FileNotFoundError" in body
    assert "hx-trigger" not in body
    assert not Contact.objects.exists()


def test_a_file_unreadable_by_the_job_fails_with_the_importers_message(alice):
    job = job_of(alice)
    job.file.save("upload.csv", ContentFile(b""))
    tasks.run_csv_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == (CsvJob.Status.FAILED, "The file is empty.")


def test_a_running_job_whose_worker_died_is_shown_failed(alice, alice_client, settings):
    job = job_of(alice, status=CsvJob.Status.RUNNING, total=5000, done=1400)
    silent = datetime.timedelta(seconds=settings.Q_CLUSTER["timeout"] + 61)
    CsvJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - silent)

    body = alice_client.get(job.get_absolute_url()).content.decode()

    job.refresh_from_db()
    assert job.status == CsvJob.Status.FAILED
    assert "ran out of time or its worker was stopped" in job.error
    assert "The job failed" in body and "It had got through 1400 of 5000 rows." in body


def test_a_running_job_that_moves_is_left_running(alice, alice_client):
    job = job_of(alice, status=CsvJob.Status.RUNNING, total=5000, done=1400)
    alice_client.get(job.get_absolute_url())
    job.refresh_from_db()
    assert job.status == CsvJob.Status.RUNNING


def test_a_job_delivered_twice_runs_once(alice):
    job = job_of(alice)
    job.file.save("upload.csv", ContentFile(people_csv(3)))
    assert tasks.run_csv_job(job.pk) == CsvJob.Status.DONE
    assert tasks.run_csv_job(job.pk) == CsvJob.Status.DONE
    assert Contact.objects.count() == 3
    assert CsvJob.objects.get().report["created"] == 3


@pytest.mark.django_db(transaction=True)  # as in a worker: no test transaction around the job,
# which the signal interrupting a query (on PostgreSQL) would leave unusable
def test_a_job_stopped_by_the_django_q2_time_limit_ends_failed(alice):
    """django-q2 stops a task over its time limit with an exception raised by SIGALRM in the
    worker (sync here, in this process): the job records it before the worker goes down."""
    from django_q.tasks import async_task

    job = job_of(alice, total=3000)
    job.file.save("upload.csv", ContentFile(people_csv(3000)))

    with pytest.raises(SystemExit, match="maximum timeout"):
        async_task("crm.tasks.run_csv_job", job.pk, timeout=1, sync=True)

    job.refresh_from_db()
    assert job.status == CsvJob.Status.FAILED
    assert "ran out of time or its worker was stopped" in job.error
    assert 0 < Contact.objects.count() < 3000  # each row is its own transaction
