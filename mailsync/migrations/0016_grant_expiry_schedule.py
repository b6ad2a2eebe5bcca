from django.db import migrations

NAME = "mailsync: warn of expiring OAuth grants"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={
            "func": "mailsync.tasks.warn_expiring_grants",
            "schedule_type": "D",  # daily
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0015_oauth_grant_expiry"), ("mailsync", "0002_sync_schedule")]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
