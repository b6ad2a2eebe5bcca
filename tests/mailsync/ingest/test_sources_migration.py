"""Migration 0012 gives every existing sighting and ledger row its source, losing nothing."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("mailsync", "0011_error_codes_from_the_catalogue")]
AFTER = [("mailsync", "0012_envelope_sources")]


@pytest.mark.django_db(transaction=True)
def test_existing_rows_become_imap_sightings_and_keep_their_place():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user = old.get_model("crm", "User").objects.create(username="rep", email="rep@ourco.example")
    account = old.get_model("mailsync", "MailAccount").objects.create(
        user=user, email="rep@ourco.example", login="rep", imap_host="h", smtp_host="h"
    )
    folder = old.get_model("mailsync", "MailFolder").objects.create(
        account=account, role="inbox", name="INBOX"
    )
    message = old.get_model("mailsync", "Message").objects.create(key="<m@x>", size=10)
    old.get_model("mailsync", "Sighting").objects.create(
        message=message, account=account, folder=folder, uidvalidity=7, uid=42
    )
    old.get_model("mailsync", "SkipEntry").objects.create(
        account=account, folder=folder, uidvalidity=7, uid=43, code="oversized", detail="big"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    sighting = new.get_model("mailsync", "Sighting").objects.get()
    assert (sighting.source, sighting.folder_id, sighting.uidvalidity, sighting.uid) == (
        "imap",
        folder.pk,
        7,
        42,
    )
    assert (sighting.inbound_route, sighting.outgoing_id) == ("", None)
    entry = new.get_model("mailsync", "SkipEntry").objects.get()
    assert (entry.source, entry.uid, entry.code, entry.detail) == ("imap", 43, "oversized", "big")

    # Back to the newest state for the tests that follow.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
