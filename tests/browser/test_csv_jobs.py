"""A large CSV import in a real browser: it runs as a job (inline with the test settings), the
job page shows the report; and a running job's page follows its progress by htmx polling."""

import pytest
from allauth.account.models import EmailAddress as AllauthEmail

from crm.models import Contact, CsvJob
from tests.browser.conftest import sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.browser,
]


@pytest.fixture
def alice_verified(alice):
    AllauthEmail.objects.create(user=alice, email=alice.email, verified=True, primary=True)
    return alice


def test_a_file_above_the_threshold_is_imported_by_a_job_whose_page_shows_the_report(
    page, alice_verified, settings
):
    settings.CRM_CSV_BACKGROUND_ROWS = 5
    rows = [f"Person,{n},person{n}@people.example" for n in range(11)]
    rows[3] = "Person,3,not-an-address@"  # line 5 of the file
    data = ("first_name,last_name,email\n" + "\n".join(rows) + "\n").encode()

    sign_in(page, "alice@ourco.example")
    page.goto("/import/contacts/")
    page.set_input_files(
        "#id_file", files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.get_by_role("button", name="Import").click()

    page.wait_for_url("**/csv-jobs/*/")
    report = page.locator(".import-result")
    assert "Imported people.csv" in report.inner_text()
    assert "10 records created" in report.inner_text()
    assert "line 5: “not-an-address@” is not a valid email address." in report.inner_text()
    job = CsvJob.objects.get()
    assert (job.status, job.done, job.total) == (CsvJob.Status.DONE, 11, 11)
    assert Contact.objects.filter(owner=alice_verified).count() == 10


def test_the_page_of_a_running_job_follows_it_to_the_end_without_a_reload(page, alice_verified):
    job = CsvJob.objects.create(
        user=alice_verified,
        kind="contacts",
        direction=CsvJob.Direction.IMPORT,
        filename="big.csv",
        status=CsvJob.Status.RUNNING,
        total=5000,
        done=1400,
    )
    sign_in(page, "alice@ourco.example")
    page.goto(job.get_absolute_url())
    assert "1400 of 5000 rows" in page.locator("#csv-job").inner_text()
    page.evaluate("window.notReloaded = true")

    CsvJob.objects.filter(pk=job.pk).update(done=3600)
    page.get_by_text("3600 of 5000 rows").wait_for()
    CsvJob.objects.filter(pk=job.pk).update(
        status=CsvJob.Status.DONE,
        done=5000,
        report={"kind": "contacts", "created": 5000, "errors": [[9, "bad row"]]},
    )
    page.get_by_text("5000 records created").wait_for()
    assert page.locator("#csv-job[data-status=done]").count() == 1
    assert page.get_by_text("line 9: bad row").count() == 1
    assert page.evaluate("window.notReloaded") is True  # htmx swapped it in, no page reload
