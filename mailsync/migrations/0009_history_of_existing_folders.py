"""Folders synced before the history was recorded per folder: they cover the history chosen when
the account was connected, counted from that day."""

from datetime import timedelta

from django.db import migrations


def fill_covered_since(apps, schema_editor):
    MailFolder = apps.get_model("mailsync", "MailFolder")
    for folder in MailFolder.objects.filter(uidvalidity__isnull=False, covered_since__isnull=True):
        account = folder.account
        folder.covered_since = (account.created_at - timedelta(days=account.history_days)).date()
        folder.save(update_fields=["covered_since"])


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0008_sync_state")]

    operations = [migrations.RunPython(fill_covered_since, migrations.RunPython.noop)]
