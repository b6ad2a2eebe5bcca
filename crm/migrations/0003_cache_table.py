"""The database cache table (CACHES in settings), created by `migrate` so that no deployment
forgets `createcachetable`: rate limits must be shared by every web worker. With REDIS_URL the
cache is Redis and this does nothing."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_groups_and_stages")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
