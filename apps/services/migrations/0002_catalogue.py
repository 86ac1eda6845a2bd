from django.db import migrations


def load(apps, schema_editor):
    from apps.plans.catalogue import ensure_catalogue

    ensure_catalogue(apps)


class Migration(migrations.Migration):
    dependencies = [("services", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
