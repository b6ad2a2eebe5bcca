"""A django-q2 worker killed in the middle of a sync: the real schedule and cluster pick the
account up again once its claim is stale, and every message ends up stored once.

Real processes on a real PostgreSQL database: `qcluster` runs the sync that `mail_connect`
queues, its worker is killed with SIGKILL while it stores batches, and the cluster's own
scheduler (`enqueue_due_syncs`, every minute) must queue the account again. Slow (about 40 s,
the scheduler's cycle), so it runs once, in the PostgreSQL pass (`-m slow`).
"""

import os
import signal
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from tests.support.mail import make_message
from tests.support.processes import ROOT, connect_alice, process_env

pytestmark = pytest.mark.slow
MESSAGES = 400
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def database():
    """A throwaway PostgreSQL database for the processes (not the test database, which the
    test's own transaction would hide from them)."""
    name = f"crm_killed_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is needed on 127.0.0.1:5432 and does not answer: {error}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def env(tmp_path, mail_ca, database):
    return process_env(
        tmp_path,
        mail_ca,
        f"postgres://postgres@127.0.0.1:5432/{database}",
        MAILSYNC_STALE_CLAIM_SECONDS="4",
        Q_WORKERS="1",
    )


def query(database, sql, *params):
    with psycopg.connect(dbname=database, **PG) as db:
        return db.execute(sql, params).fetchall()


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def start_cluster(env, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as a whole at the end
    )


def test_a_killed_worker_strands_nothing(env, database, dovecot, smtpd, mail_user, tmp_path):
    for i in range(MESSAGES):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"Message {i}"))
    log = open(tmp_path / "qcluster.log", "wb")  # noqa: SIM115 - closed at the end
    cluster = start_cluster(env, log)
    try:
        connect_alice(env, dovecot, smtpd, mail_user)  # queues the first sync

        # The sync that connecting queued runs in the cluster's worker: kill that worker as
        # soon as it has stored a few batches.
        worker = wait_for(
            "the worker to store some mail",
            lambda: query(
                database,
                "SELECT r.worker FROM mailsync_syncrun r WHERE r.outcome = 'running'"
                " AND (SELECT COUNT(*) FROM mailsync_message) >= 10",
            ),
            timeout=60,
        )[0][0]
        pid = int(worker.rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)
        stored = query(database, "SELECT COUNT(*) FROM mailsync_message")[0][0]
        assert stored < MESSAGES, "the sync finished before the worker was killed"
        assert query(database, "SELECT status FROM mailsync_mailaccount")[0][0] == "syncing"

        # Nobody calls anything now: the cluster's scheduler must find the stranded account.
        wait_for(
            "the schedule to sync the account again",
            lambda: query(
                database,
                "SELECT 1 FROM mailsync_syncrun WHERE outcome = 'ok'",
            ),
            timeout=120,
        )
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
        log.close()

    account = query(database, "SELECT status, sync_claim, error_code FROM mailsync_mailaccount")
    assert account == [("connected", "", "")]
    outcomes = [
        row[0] for row in query(database, "SELECT outcome FROM mailsync_syncrun ORDER BY id")
    ]
    assert outcomes == ["interrupted", "ok"], outcomes
    counts = query(
        database,
        "SELECT (SELECT COUNT(*) FROM mailsync_message), (SELECT COUNT(*) FROM mailsync_sighting),"
        " (SELECT COUNT(*) FROM mailsync_messageraw), (SELECT COUNT(DISTINCT uid) FROM"
        " mailsync_sighting)",
    )[0]
    assert counts == (MESSAGES, MESSAGES, MESSAGES, MESSAGES), counts
