from django.db import migrations

STAGES = [
    ("Qualified", 10),
    ("Contact made", 20),
    ("Demo scheduled", 40),
    ("Proposal sent", 60),
    ("Negotiation", 80),
]


def create_defaults(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Stage = apps.get_model("crm", "Stage")
    for name in ("Reps", "Managers"):
        Group.objects.get_or_create(name=name)
    if not Stage.objects.exists():
        for position, (name, probability) in enumerate(STAGES):
            Stage.objects.create(name=name, position=position, probability=probability)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
