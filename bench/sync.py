"""Benchmark: our initial sync against a raw imap-tools fetch of the same mailbox.

    python bench/sync.py [--messages 10000] [--database-url postgres://postgres@127.0.0.1/crm_bench]

Starts a throwaway Dovecot (the test fixture's), fills Inbox and Sent with generated messages,
then in one run times (1) a raw imap-tools fetch of both folders, (2) our full initial sync into
the database, (3) a second sync with nothing new, and prints messages per second, the ratio and
the peak Python memory of a full sync (measured in a second, untimed run). The database named by
--database-url is dropped and created.
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200, help="MAILSYNC_FETCH_BATCH")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/crm_bench")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        # As in production: with DEBUG on, Django keeps every SQL statement in memory.
        DEBUG="false",
        SECRET_KEY="bench-only-" + "s" * 50,
        VAR_DIR=str(tmp),
        DATABASE_URL=args.database_url,
        MAILSYNC_SECRET_KEYS="bench-only-key-" + "b" * 40,
        MAILSYNC_FETCH_BATCH=str(args.batch),
        MAILSYNC_ALLOW_PRIVATE_HOSTS="true",  # the throwaway Dovecot is on 127.0.0.1
    )
    from tests.support.servers import CertAuthority, Dovecot

    ca = CertAuthority(tmp / "ca", "bench-ca")
    os.environ["MAILSYNC_CA_FILE"] = str(ca.ca_file)
    _recreate_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    dovecot = Dovecot(ca).start()
    try:
        login, password = "bench@ourco.example", "bench-password"
        dovecot.add_user(login, password)
        fill_started = time.perf_counter()
        _fill(dovecot, login, args.messages)
        print(f"filled {args.messages} messages in {time.perf_counter() - fill_started:.1f} s")

        raw_seconds = _raw_fetch(dovecot, login, password)
        ours_seconds, peak, second_seconds = _our_sync(dovecot, login, password)
    finally:
        dovecot.cleanup()

    n = args.messages
    print(f"raw imap-tools fetch: {n / raw_seconds:8.0f} messages/s ({raw_seconds:.1f} s)")
    print(f"our initial sync:     {n / ours_seconds:8.0f} messages/s ({ours_seconds:.1f} s)")
    print(f"ratio (ours / raw):   {raw_seconds / ours_seconds:8.2f}   (target >= 0.20)")
    print(f"no-change sync:       {second_seconds * 1000:8.0f} ms      (target < 100 ms)")
    print(f"peak Python memory of a full sync: {peak / 1024 / 1024:.1f} MiB (tracemalloc)")


def _recreate_database(url: str) -> None:
    from crm.env import parse_database_url

    db = parse_database_url(url)
    if not db["ENGINE"].endswith("postgresql"):
        return
    import psycopg

    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


def _message(i: int, folder: str) -> bytes:
    sender = (
        "alice@ourco.example" if folder == "Sent" else f"customer{i % 500}@client{i % 50}.example"
    )
    to = f"customer{i % 500}@client{i % 50}.example" if folder == "Sent" else "alice@ourco.example"
    body = "Line of a realistic message body about the proposal and the next steps.\r\n" * 30
    return (
        f"From: Person {i} <{sender}>\r\nTo: {to}\r\nCc: team{i % 7}@ourco.example\r\n"
        f"Subject: Proposal {i} for {folder}\r\nDate: Mon, 2 Nov 2026 10:{i % 60:02d}:00 +0100\r\n"
        f"Message-ID: <bench-{folder}-{i}@ourco.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def _fill(dovecot, login: str, count: int) -> None:
    with dovecot.mailbox(login) as box:
        for i in range(count):
            folder = "Sent" if i % 4 == 0 else "INBOX"
            box.client.append(folder, None, None, _message(i, folder))


def _raw_fetch(dovecot, login: str, password: str) -> float:
    import ssl

    from imap_tools import MailBox

    context = ssl.create_default_context(cafile=os.environ["MAILSYNC_CA_FILE"])
    started = time.perf_counter()
    with MailBox(dovecot.host, dovecot.ssl_port, ssl_context=context).login(login, password) as box:
        for folder in ("INBOX", "Sent"):
            box.folder.set(folder, readonly=True)
            for _message in box.fetch(mark_seen=False, bulk=100):
                pass
    return time.perf_counter() - started


def _our_sync(dovecot, login: str, password: str) -> tuple[float, int, float]:
    from crm.models import User
    from mailsync.models import MailAccount
    from mailsync.sync.run import account_sync

    user = User.objects.create_user("bench", "bench@ourco.example")
    account = MailAccount(
        user=user,
        email=login,
        login=login,
        imap_host=dovecot.host,
        imap_port=dovecot.ssl_port,
        smtp_host=dovecot.host,
        history_days=365,
    )
    account.secret = password  # the history window goes by arrival (INTERNALDATE): all of it
    account.save()
    started = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        result = profile.runcall(account_sync, account=account)
        profile.dump_stats(os.environ["BENCH_PROFILE"])
    else:
        result = account_sync(account=account)
    seconds = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"sync failed: {result}")
    started = time.perf_counter()
    again = account_sync(account=account)
    second = time.perf_counter() - started
    assert again.imported == 0, again
    return seconds, _peak_memory_of_a_full_sync(account), second


def _peak_memory_of_a_full_sync(account) -> int:
    """Sync the mailbox again from scratch, into emptied tables, under tracemalloc: the peak of
    Python allocations. Not timed, since tracemalloc slows allocation-heavy code a lot."""
    from django.db import connection

    from mailsync.sync.run import account_sync

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE mailsync_message, mailsync_thread, mailsync_skipentry, mailsync_syncrun "
            "RESTART IDENTITY CASCADE"
        )
    account.folders.all().delete()
    tracemalloc.start()
    result = account_sync(account=account)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.error is None and result.duplicates == 0, result
    return peak


if __name__ == "__main__":
    main()
