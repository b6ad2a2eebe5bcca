"""A worker killed in the middle of a sync, then another: nothing lost, nothing twice.

Real processes on a real database file: `mail_sync` is started, killed with SIGKILL once it has
stored some batches, and run again.
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.support.mail import make_message
from tests.support.processes import ROOT, connect_alice, manage, process_env

MESSAGES = 150


@pytest.fixture
def env(tmp_path, mail_ca):
    return process_env(tmp_path, mail_ca, f"sqlite:///{tmp_path / 'crm.sqlite3'}")


def counts(env):
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        return {
            table: db.execute(f"SELECT COUNT(*) FROM mailsync_{table}").fetchone()[0]
            for table in ("message", "sighting", "messageraw", "participant")
        }


def test_a_killed_sync_loses_nothing_and_stores_nothing_twice(env, dovecot, smtpd, mail_user):
    for i in range(MESSAGES):
        dovecot.append(mail_user.login, "INBOX", make_message(subject=f"Message {i}"))
    connect_alice(env, dovecot, smtpd, mail_user)

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "mail_sync", mail_user.login],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    # Kill it once the progress bar says ten messages are stored.
    seen = b""
    deadline = time.monotonic() + 60
    while max(map(int, re.findall(rb"\] (\d+)/", seen)), default=0) < 10:
        chunk = os.read(worker.stdout.fileno(), 256)
        if not chunk or time.monotonic() > deadline:
            break
        seen += chunk
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    partial = counts(env)
    assert 0 < partial["message"] < MESSAGES, (partial, seen[-200:])

    # The dead worker's claim is never released; once it is stale, the next sync takes over.
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        db.execute("UPDATE mailsync_mailaccount SET sync_claimed_at = '2000-01-01 00:00:00'")
    again = manage(env, "mail_sync", mail_user.login)
    assert again.returncode == 0, again.stdout + again.stderr
    final = counts(env)
    assert final["message"] == final["sighting"] == final["messageraw"] == MESSAGES
    assert final["participant"] == 2 * MESSAGES  # from + to, each once
    status = manage(env, "mail_status", mail_user.login, "--json")
    assert '"last_uid": 150' in status.stdout
