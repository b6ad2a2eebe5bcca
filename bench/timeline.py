"""Benchmark: the first page of a record's timeline, with thousands of messages on it.

    python bench/timeline.py [--database-url postgres://postgres@127.0.0.1:5432/crm_bench_timeline]

Creates a contact with 5,000 messages, a deal with 2,000 and a contact with 5, then prints for
each the server time of its detail page (the median of several requests) and the number of SQL
queries. Targets: the query count does not grow with the number of messages, and the page
renders in under 150 ms on PostgreSQL. The database is dropped and created.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/crm_bench_timeline"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DEBUG="false",
        SECRET_KEY="bench-only-" + "s" * 50,
        MAILSYNC_SECRET_KEYS="bench-only-key-" + "b" * 40,
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        VAR_DIR=str(tmp),
        DATABASE_URL=args.database_url,
    )
    from bench.sync import _recreate_database

    _recreate_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # as in production
    rows = _fill()
    print(f"{'record':<28} {'messages':>8} {'median ms':>10} {'queries':>8}")
    for label, url, count in rows:
        ms, queries = _measure(url)
        print(f"{label:<28} {count:>8} {ms:>10.1f} {queries:>8}")


def _fill():
    from crm import services as crm
    from crm.models import Contact, Deal, Stage, Team, User
    from mailsync.ingest import bulk
    from mailsync.models import (
        MailAccount,
        MailFolder,
        Message,
        MessageLink,
        Participant,
        Sighting,
        Thread,
    )

    team = Team.objects.create(name="Bench")
    alice = User.objects.create_user("alice", "alice@ourco.example", "x", team=team)
    account = MailAccount.objects.create(
        user=alice, email="alice@ourco.example", login="alice", imap_host="h", smtp_host="h"
    )
    inbox = MailFolder.objects.create(account=account, role="inbox", name="INBOX", uidvalidity=1)
    big = crm.contact_save(
        contact=Contact(first_name="Big", owner=alice), actor=alice, emails=["big@client.example"]
    )
    small = crm.contact_save(
        contact=Contact(first_name="Small", owner=alice),
        actor=alice,
        emails=["small@client.example"],
    )
    deal = crm.deal_save(
        deal=Deal(name="Big deal", owner=alice, stage=Stage.objects.first()),
        actor=alice,
        contacts=[big],
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    uid = 0

    def messages_for(record_kwargs_list, address, count):
        nonlocal uid
        threads = [Thread(subject=f"Thread {i}") for i in range(max(1, count // 4))]
        bulk.insert(Thread, threads)
        messages = []
        for i in range(count):
            messages.append(
                Message(
                    key=f"mid:{address}-{i}",
                    message_id=f"{address}-{i}",
                    thread=threads[i % len(threads)],
                    subject=f"Message {i} about the proposal",
                    date=start + timedelta(minutes=i),
                    from_address=address,
                    text="Hello,\nshall we meet?\n" * 5,
                    snippet="Hello, shall we meet?",
                    size=2000,
                    recipient_count=1,
                )
            )
        bulk.insert(Message, messages)
        rows = []
        for m in messages:
            uid += 1
            rows.append((m.pk, account.pk, inbox.pk, 1, uid))
        bulk.insert_values(Sighting, ["message", "account", "folder", "uidvalidity", "uid"], rows)
        bulk.insert_values(
            Participant,
            ["message", "role", "address", "name", "position"],
            [
                (m.pk, r, a, "", p)
                for m in messages
                for p, (r, a) in enumerate([("from", address), ("to", "alice@ourco.example")])
            ],
        )
        for record_kwargs in record_kwargs_list:
            MessageLink.objects.bulk_create(
                [MessageLink(message=m, origin="address", **record_kwargs) for m in messages]
            )

    messages_for([{"contact": big}], "big@client.example", 5000)
    messages_for([{"deal": deal}], "deal@client.example", 2000)
    messages_for([{"contact": small}], "small@client.example", 5)
    return [
        ("contact, 5,000 messages", big.get_absolute_url(), 5000),
        ("deal, 2,000 messages", deal.get_absolute_url(), 2000),
        ("contact, 5 messages", small.get_absolute_url(), 5),
    ]


def _measure(url: str, runs: int = 7) -> tuple[float, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import User

    client = Client()
    client.force_login(User.objects.get(username="alice"))
    assert client.get(url, secure=True).status_code == 200  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url, secure=True)
    if os.environ.get("BENCH_SQL"):
        for query in sorted(queries, key=lambda q: -float(q["time"]))[:4]:
            print(f"  {float(query['time']) * 1000:6.1f} ms  {query['sql'][:300]}")
    return statistics.median(times), len(queries)


if __name__ == "__main__":
    main()
