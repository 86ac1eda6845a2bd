"""Celery tasks of the plans app: importing a big plan-services file in the background.

A file of more than ``BACKGROUND_ROWS`` rows is confirmed into a ``PlanImportJob`` and imported here,
so the request that confirmed it answers at once with a progress page instead of holding a web
worker for the whole import. The rows are first checked outside any transaction (the progress page
follows the count), then written by ``operations.import_file_rows`` in one transaction: all or
nothing, the same operation as an import within the request.
"""

import logging

from celery import shared_task
from django.db.models import F
from django.utils.translation import gettext as _

from apps.core import clock
from apps.core.errors import DomainError

from . import operations
from .models import PlanImportJob

log = logging.getLogger(__name__)

BACKGROUND_ROWS = 2_000  # files with more rows are imported by the task below
BAD_ROWS_KEPT = 500  # bad rows a failed job keeps to show (their count is always kept)


def _read_dataset(job: PlanImportJob):
    from django.contrib import admin

    from .models import PlanService

    model_admin = admin.site.get_model_admin(PlanService)
    input_format = model_admin.get_import_formats()[job.file_format](encoding=model_admin.from_encoding)
    storage = model_admin.get_tmp_storage_class()(
        name=job.tmp_name, encoding=None if input_format.is_binary() else model_admin.from_encoding,
        read_mode=input_format.get_read_mode(), **model_admin.get_tmp_storage_class_kwargs())
    try:
        return input_format.create_dataset(storage.read()), storage
    except Exception:
        storage.remove()
        raise


def _bad_rows(check) -> list[dict]:
    return [{"row": row.number, "errors": {operations_column(name): reasons for name, reasons in row.errors.items()}}
            for row in check.bad_rows[:BAD_ROWS_KEPT]]


def operations_column(name: str) -> str:
    return "cost table" if name == "cost_table" else name


def _finish(job_id: int, state: str, result: dict):
    PlanImportJob.objects.filter(pk=job_id).update(state=state, result=result, finished_at=clock.now())


@shared_task(name="apps.plans.tasks.import_plan_services_file")
def import_plan_services_file(job_id: int) -> str:
    """Import the file of a queued job; answers the job's final state. A job runs once: it is claimed by
    moving it from ``queued`` to ``checking`` (a redelivered message finds it claimed and does nothing)."""
    if not PlanImportJob.objects.filter(pk=job_id, state=PlanImportJob.State.QUEUED).update(
            state=PlanImportJob.State.CHECKING):
        return "claimed"
    job = PlanImportJob.objects.select_related("actor", "service").get(pk=job_id)
    storage = None
    try:
        from .resources import PlanServiceResource

        dataset, storage = _read_dataset(job)
        resource = PlanServiceResource(actor=job.actor, service=job.service, mode=job.mode)
        error = resource.file_error(dataset)
        if error:
            _finish(job.pk, PlanImportJob.State.FAILED, {"message": error})
            return PlanImportJob.State.FAILED
        rows = resource.file_rows(dataset)
        PlanImportJob.objects.filter(pk=job.pk).update(total_rows=len(rows))

        def progress(done):
            PlanImportJob.objects.filter(pk=job.pk).update(checked_rows=done)

        check = operations.check_file_rows(actor=job.actor, service=job.service, rows=rows, mode=job.mode,
                                           progress=progress)
        if check.bad_rows:
            _finish(job.pk, PlanImportJob.State.FAILED, {
                "message": _("%(count)s rows of the file are bad; nothing was imported.") % {
                    "count": len(check.bad_rows)},
                "bad_rows": _bad_rows(check), "bad_count": len(check.bad_rows)})
            return PlanImportJob.State.FAILED
        PlanImportJob.objects.filter(pk=job.pk).update(state=PlanImportJob.State.WRITING, checked_rows=F("total_rows"))
        # Checked again under the plans' locks: the file may have become wrong since (another write).
        check = operations.import_file_rows(actor=job.actor, service=job.service, rows=rows, mode=job.mode)
        _finish(job.pk, PlanImportJob.State.DONE, {"counts": check.counts(), "removed": check.removed})
        return PlanImportJob.State.DONE
    except DomainError as exc:
        check = getattr(exc, "check", None)
        _finish(job.pk, PlanImportJob.State.FAILED, {
            "message": exc.detail, **({"bad_rows": _bad_rows(check), "bad_count": len(check.bad_rows)} if check else {})})
        return PlanImportJob.State.FAILED
    except Exception:
        log.exception("plan services import job %s failed", job.pk)
        _finish(job.pk, PlanImportJob.State.FAILED, {
            "message": _("The import failed on an unexpected error; nothing was imported. The error is in the "
                         "worker's log.")})
        return PlanImportJob.State.FAILED
    finally:
        if storage is not None:
            storage.remove()
