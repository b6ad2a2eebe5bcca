"""The states a sync can leave an account in: no silent death, no resurrection, no false success,
and a history that can be widened."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from mailsync.accounts.services import account_disable, account_disconnect
from mailsync.models import MailAccount, Message, Sighting, SyncRun
from mailsync.selectors.due import accounts_due
from mailsync.selectors.status import account_status
from mailsync.sync.run import account_claim, account_sync
from tests.support.mail import make_message

pytestmark = pytest.mark.django_db


def sync(account, **kwargs):
    result = account_sync(account=account, **kwargs)
    account.refresh_from_db()
    return result


def test_an_account_a_dead_worker_left_syncing_is_due_again_once_its_claim_is_stale(
    account, settings
):
    settings.MAILSYNC_STALE_CLAIM_SECONDS = 60
    token = account_claim(account=account)
    SyncRun.objects.create(account=account)  # the run of the worker that then died
    account.refresh_from_db()
    assert account.status == "syncing"
    assert account not in accounts_due()  # the claim is live

    MailAccount.objects.filter(pk=account.pk).update(
        sync_claimed_at=timezone.now() - timedelta(seconds=61)
    )
    assert account in accounts_due()
    result = sync(account)

    assert result.claimed and result.error is None, result
    assert account.status == "connected" and account.sync_claim != token
    interrupted, ok = SyncRun.objects.order_by("started_at", "pk")
    assert interrupted.outcome == "interrupted" and interrupted.finished_at
    assert ok.outcome == "ok"


@pytest.mark.parametrize("how", ["disabled", "disconnected"])
def test_a_queued_sync_never_brings_back_a_disabled_or_disconnected_account(account, how):
    if how == "disabled":
        account_disable(account=account)
    else:
        account_disconnect(account=account)

    result = sync(account)  # the job that was queued before

    assert result.claimed is False
    assert account.status == how and account.error_code == ""
    assert not SyncRun.objects.exists()  # no sign-in was even tried
    assert account not in accounts_due()


def test_disabling_during_a_sync_stops_it_and_keeps_it_disabled(
    dovecot, mail_user, account, settings
):
    settings.MAILSYNC_FETCH_BATCH = 2
    for i in range(6):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"m{i}"))

    def an_operator_disables_it(role, done, total):
        if done == 2:
            account_disable(account=MailAccount.objects.get(pk=account.pk))

    result = sync(account, progress=an_operator_disables_it)

    assert result.aborted and result.imported == 2
    assert account.status == "disabled" and account.last_success_at is None
    assert not account.sync_claim  # released, so that enabling it again syncs at once
    assert SyncRun.objects.get().outcome == "interrupted"
    assert account.folders.get(role="inbox").last_uid == 2  # the stored batch, nothing more


def test_a_crash_that_is_no_mail_error_is_a_failed_run_with_a_code(account, caplog):
    account.secret_ciphertext = "not-a-fernet-token"  # e.g. the key it was encrypted with is gone
    account.save()

    result = sync(account)

    assert result.error.code == "internal_error"
    assert account.status == "error" and account.error_code == "internal_error"
    assert account.last_success_at is None
    assert account.next_sync_at is not None  # retried, with backoff
    run = SyncRun.objects.get()
    assert run.outcome == "error" and run.error_code == "internal_error"
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


def test_a_crash_after_a_success_leaves_the_last_success_untouched(dovecot, mail_user, account):
    sync(account)
    succeeded = account.last_success_at
    account.secret_ciphertext = "garbage"
    account.save()
    sync(account)
    assert account.last_success_at == succeeded and account.status == "error"


def test_widening_the_history_imports_the_older_mail_once(dovecot, mail_user, account):
    account.history_days = 30
    account.save()
    old = datetime.now(UTC) - timedelta(days=60)
    ancient = datetime.now(UTC) - timedelta(days=500)
    login = mail_user.login
    dovecot.append(login, "INBOX", make_message(subject="two months", date=old), date=old)
    dovecot.append(login, "INBOX", make_message(subject="ancient", date=ancient), date=ancient)
    dovecot.append(login, "INBOX", make_message(subject="recent"))
    sync(account)
    assert list(Message.objects.values_list("subject", flat=True)) == ["recent"]
    assert account_status(account=account)["skipped"] == {"before_sync_window": 2}

    account.history_days = 365  # the rep picks 12 months in the mailbox settings
    account.save()
    result = sync(account)

    assert result.imported == 1 and result.error is None
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["recent", "two months"]
    assert account_status(account=account)["skipped"] == {"before_sync_window": 1}
    assert sync(account).imported == 0  # once, not at every sync
    assert Sighting.objects.count() == 2


def test_mail_sync_on_a_disabled_account_says_so_and_fails(account, capsys):
    account_disable(account=account)
    with pytest.raises(SystemExit) as exit_:
        call_command("mail_sync", account.email)
    assert exit_.value.code == 1
    assert "is disabled" in capsys.readouterr().err
