from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.db.models.signals import post_migrate


def _seed_after_migrate(sender, **kwargs):
    from .seeds import ensure_seeds

    ensure_seeds()


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self):
        # Role groups need the permissions, which Django creates in post_migrate.
        post_migrate.connect(_seed_after_migrate, dispatch_uid="core.seeds")
        # The beat schedule belongs to the project, not to an app: its seeder registers here.
        from billing_site.beat import ensure_beat_schedules

        from . import seeds

        seeds.register(ensure_beat_schedules)
        # The admin's autocomplete labels rows by the target admin's ``picker_label`` (apps.core.pickers).
        from django.contrib import admin

        from .pickers import install

        install(admin.site)
        # The last outcome of each scheduled job, for the "Scheduled jobs" page (apps.core.jobs).
        from celery.signals import task_postrun

        from .jobs import record_outcome

        task_postrun.connect(record_outcome, weak=False, dispatch_uid="core.jobs.record_outcome")
