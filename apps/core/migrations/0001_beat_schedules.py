from django.db import migrations


def load(apps, schema_editor):
    from billing_site.beat import ensure_beat_schedules

    ensure_beat_schedules(apps)


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
