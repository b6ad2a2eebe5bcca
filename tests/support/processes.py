"""What the tests of real processes share: `manage.py` in a subprocess, an environment with
production-like settings (crm.settings, not the test settings) on a database of its own, and a
rep whose mailbox on the test Dovecot is connected with `mail_connect`."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(env, *args, stdin=None, timeout=120):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def process_env(tmp_path, mail_ca, database_url: str, **extra: str) -> dict:
    """The environment of the processes, with the database migrated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.pop("REDIS_URL", None)  # the database is the job queue
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DEBUG="true",
        VAR_DIR=str(tmp_path),
        DATABASE_URL=database_url,
        MAILSYNC_SECRET_KEYS="process-test-key-" + "z" * 40,
        MAILSYNC_CA_FILE=str(mail_ca.ca_file),
        MAILSYNC_ALLOW_PRIVATE_HOSTS="true",  # the test servers are on 127.0.0.1
        MAILSYNC_FETCH_BATCH="5",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    result = manage(env, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return env


def connect_alice(env, dovecot, smtpd, mail_user) -> None:
    """Alice, a rep, connects her Dovecot mailbox (a year of history) with `mail_connect`."""
    smtpd.add_user(mail_user.login, mail_user.password)
    created = manage(
        env,
        "shell",
        "-c",
        "from crm.models import User; User.objects.create_user('alice', 'alice@ourco.example')",
    )
    assert created.returncode == 0, created.stderr
    connect = manage(
        env,
        "mail_connect",
        "alice",
        "--email", mail_user.login,
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.ssl_port), "--imap-security", "ssl",
        "--smtp-host", smtpd.host, "--smtp-port", str(smtpd.ssl_port), "--smtp-security", "ssl",
        "--history-days", "365",
        "--password-stdin",
        stdin=mail_user.password + "\n",
    )  # fmt: skip
    assert connect.returncode == 0, connect.stdout + connect.stderr
