"""The stored account and unit tables of the discount module (written set-based, read a page at a time).

``compute_table`` runs the whole calculation once (``queries.calculate_discount`` and the advisor
over one ``gather``) and words every line; ``write_rows`` stores them in batches (PostgreSQL
``COPY``, elsewhere ``bulk_create``). Two writers use them:

- the daily job (``operations.save_snapshots``): the table of the day it saves, in the same
  transaction as the snapshot rows, replacing the service's previous daily table;
- "Recalculate" (``start_recalculation`` → Celery task ``recalculate_discount`` → ``run_recalculation``):
  a calculation of ``kind=recalculation`` whose row is also the job (state, percent), written
  outside one long transaction so the progress shows; the page shows its table once it is ``done``.
  It never writes a ``DiscountSnapshot``.

The module page and the API lists read the rows a page at a time (``page_of_accounts``,
``page_of_units``): their cost follows the page, not the service.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import translation
from django.db import IntegrityError, connection, transaction

from apps.accounts.models import Account, Operator, Role
from apps.core import clock
from apps.core.bulk import copy_rows
from apps.core.languages import language_of, supported

from .inputs import gather
from .models import DiscountAccountRow, DiscountCalculation, DiscountUnitRow
from .queries import DiscountReport, ServiceAdvice, calculate_discount
from .templatetags.discounts import whole_percent

log = logging.getLogger(__name__)

TOP_SUGGESTIONS = 3  # per unit and per account in the stored tables; the advice API gives them all
BATCH = 10_000  # rows per COPY (or bulk_create) statement; the progress moves between batches
KEEP_RECALCULATIONS = timedelta(days=1)  # finished recalculations older than this are dropped

ACCOUNT_COLUMNS = ("calculation_id", "position", "account_id", "name", "rank", "discount", "units", "first_unit",
                   "reasons", "advice")
UNIT_COLUMNS = ("calculation_id", "position", "account_id", "unit_id", "name", "unit_points", "account_points",
                "discount", "eligible", "reasons", "advice")


@dataclass
class ComputedTable:
    report: DiscountReport
    after_top: object  # rules.ServiceSummary: the service if every account took its top suggestion
    account_rows: list[tuple]  # values in ACCOUNT_COLUMNS order, without calculation_id
    unit_rows: list[tuple]  # values in UNIT_COLUMNS order, without calculation_id


def _worded(advice: ServiceAdvice, answer, cache: dict) -> list[dict]:
    """A unit's or account's top suggestions as stored: the change, the discount after (whole percent,
    truncated like every discount shown) and a note. Worded once per distinct answer (the units of a
    service share a handful)."""
    if id(answer) not in cache:
        cache[id(answer)] = (answer, [{"feature": s["feature"], "change": str(s["change"]),
                                       "after": whole_percent(s["discount_after"]), "note": advice.note(s)}
                                      for s in answer.suggestions])
    return cache[id(answer)][1]


def service_language(service: Account) -> str:
    """The language a service's stored discount table is worded in when no one asked for it (the daily
    snapshot): its top users' language when they share one, else English (docs/decisions.md, "Languages:
    stored words")."""
    languages = set(Operator.objects.filter(account_id=service.pk, role=Role.TOP_USER, is_active=True)
                    .values_list("language", flat=True))
    return supported(languages.pop()) or settings.LANGUAGE_CODE if len(languages) == 1 else settings.LANGUAGE_CODE


def compute_table(service: Account, progress=None) -> ComputedTable:
    """The service's discount now with every line worded for storing. ``progress(percent)`` is told
    how far it got (0–60)."""
    progress = progress or (lambda percent: None)
    data = gather(service)
    progress(20)
    report = calculate_discount(service, data)
    progress(35)
    advice = ServiceAdvice(service, data)
    cache: dict = {}
    account_rows, unit_rows = [], []
    position = 0
    for i, account in enumerate(report.accounts):
        account_rows.append((i, account.account_id, account.name, account.rank, account.discount, len(account.units),
                             position, list(account.reasons),
                             _worded(advice, advice.for_account(account.account_id, TOP_SUGGESTIONS), cache)))
        for unit in account.units:
            unit_rows.append((position, unit.account_id, unit.unit_id, unit.name, unit.unit_points,
                              unit.account_points, unit.discount, unit.eligible, list(unit.reasons),
                              _worded(advice, advice.for_unit(unit.unit_id, TOP_SUGGESTIONS), cache)))
            position += 1
    progress(55)
    after_top = advice.service_after_top()
    progress(60)
    return ComputedTable(report=report, after_top=after_top, account_rows=account_rows, unit_rows=unit_rows)


def write_rows(model, columns: tuple[str, ...], calculation_id: int, rows: list[tuple], progress=None):
    """Store ``rows`` (values without the calculation) in batches of ``BATCH``: one ``COPY`` each on
    PostgreSQL (the project's one writer, ``core.bulk.copy_rows``), one ``bulk_create`` each elsewhere.
    ``progress(done)`` after each batch."""
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        if connection.vendor == "postgresql":
            copy_rows(model, columns, ((calculation_id, *row) for row in batch))
        else:
            model.objects.bulk_create([model(**dict(zip(columns, (calculation_id, *row), strict=True)))
                                       for row in batch])
        if progress:
            progress(start + len(batch))


def _summary_fields(table: ComputedTable, service: Account) -> dict:
    s = table.report.summary
    return {"current": s.current, "maximum": s.maximum, "applied": s.applied, "purchased": s.purchased,
            "in_use": s.in_use, "unused": s.unused, "full_cost": s.full_cost,
            "basic_package_units": service.basic_package_units,
            "after_top_current": table.after_top.current, "after_top_applied": table.after_top.applied,
            "accounts": len(table.account_rows), "units": len(table.unit_rows)}


def drop_calculations(ids) -> None:
    """Delete calculations with their rows (the rows first, each in one statement)."""
    ids = list(ids)
    if not ids:
        return
    DiscountUnitRow.objects.filter(calculation_id__in=ids).delete()
    DiscountAccountRow.objects.filter(calculation_id__in=ids).delete()
    DiscountCalculation.objects.filter(pk__in=ids).delete()


def store_daily_table(service: Account, day, table: ComputedTable, now: datetime) -> DiscountCalculation | None:
    """Store ``table`` as the service's table of ``day`` and drop its older daily tables and its old
    recalculations. Call inside the snapshot's transaction. None when another run stored that day's
    table first (the unique key (service, day) of daily tables)."""
    try:
        with transaction.atomic():
            calculation = DiscountCalculation.objects.create(
                service=service, kind=DiscountCalculation.Kind.DAILY, day=day, state=DiscountCalculation.State.DONE,
                percent=100, created_at=now, finished_at=now, **_summary_fields(table, service))
    except IntegrityError:
        return None
    write_rows(DiscountAccountRow, ACCOUNT_COLUMNS, calculation.pk, table.account_rows)
    write_rows(DiscountUnitRow, UNIT_COLUMNS, calculation.pk, table.unit_rows)
    old = DiscountCalculation.objects.filter(service=service).exclude(pk=calculation.pk).filter(
        kind=DiscountCalculation.Kind.DAILY, day__lt=day).values_list("pk", flat=True)
    stale = DiscountCalculation.objects.filter(service=service, kind=DiscountCalculation.Kind.RECALCULATION,
                                               created_at__lt=now - KEEP_RECALCULATIONS).values_list("pk", flat=True)
    drop_calculations([*old, *stale])
    return calculation


# --- Recalculate ---------------------------------------------------------------------------------

def start_recalculation(*, actor, service: Account) -> DiscountCalculation:
    """Queue a recalculation of ``service`` (the page's Recalculate button): the job row, then the
    Celery task. The caller checked that ``actor`` may open the service's module."""
    from .tasks import recalculate_discount

    now = clock.now()
    stale = DiscountCalculation.objects.filter(service=service, kind=DiscountCalculation.Kind.RECALCULATION,
                                               created_at__lt=now - KEEP_RECALCULATIONS)
    drop_calculations(stale.values_list("pk", flat=True))
    calculation = DiscountCalculation.objects.create(
        service=service, kind=DiscountCalculation.Kind.RECALCULATION, actor=actor, created_at=now)
    recalculate_discount.delay(calculation.pk)
    return calculation


def _set(pk: int, **fields):
    DiscountCalculation.objects.filter(pk=pk).update(**fields)


def run_recalculation(calculation_id: int) -> str:
    """Compute and store a queued recalculation; answers its final state. A job runs once: it is
    claimed by moving it from ``queued`` to ``calculating`` (a redelivered message finds it claimed)."""
    from django.utils.translation import gettext

    State = DiscountCalculation.State
    if not DiscountCalculation.objects.filter(pk=calculation_id, state=State.QUEUED).update(
            state=State.CALCULATING, percent=5):
        return "claimed"
    calculation = DiscountCalculation.objects.select_related("service", "actor").get(pk=calculation_id)
    service = calculation.service
    try:
        # The stored table holds worded reasons and advice: worded in the language of the operator who asked
        # (a worker has no request; docs/decisions.md, "Languages: stored words").
        with translation.override(language_of(calculation.actor)):
            table = compute_table(service, progress=lambda percent: _set(calculation_id, percent=percent))
        _set(calculation_id, state=State.WRITING, **_summary_fields(table, service))
        total = max(len(table.account_rows) + len(table.unit_rows), 1)
        write_rows(DiscountAccountRow, ACCOUNT_COLUMNS, calculation_id, table.account_rows)
        written = len(table.account_rows)
        write_rows(DiscountUnitRow, UNIT_COLUMNS, calculation_id, table.unit_rows,
                   progress=lambda done: _set(calculation_id, percent=60 + 39 * (written + done) // total))
        _set(calculation_id, state=State.DONE, percent=100, finished_at=clock.now())
        return State.DONE
    except Exception:
        log.exception("discount recalculation %s failed", calculation_id)
        DiscountUnitRow.objects.filter(calculation_id=calculation_id).delete()
        DiscountAccountRow.objects.filter(calculation_id=calculation_id).delete()
        _set(calculation_id, state=State.FAILED, finished_at=clock.now(),
             message=gettext("The recalculation failed on an unexpected error; the error is in the worker's log."))
        return State.FAILED


# --- Reading ---------------------------------------------------------------------------------------

def latest_daily(service: Account) -> DiscountCalculation | None:
    return DiscountCalculation.objects.filter(service=service, kind=DiscountCalculation.Kind.DAILY,
                                              state=DiscountCalculation.State.DONE).order_by("-day").first()


def page_of_accounts(calculation: DiscountCalculation, offset: int, limit: int) -> list[DiscountAccountRow]:
    """Rows ``offset`` … ``offset + limit − 1``: positions are consecutive from 0, so a page is a range of the
    unique index (calculation, position), as cheap at page 100 as at page 1 (no ``OFFSET`` walk)."""
    return list(DiscountAccountRow.objects.filter(calculation=calculation, position__gte=offset,
                                                  position__lt=offset + limit).order_by("position"))


def page_of_units(calculation: DiscountCalculation, account: DiscountAccountRow, offset: int,
                  limit: int) -> list[DiscountUnitRow]:
    """A page of one account's units: they are consecutive from ``account.first_unit`` (a range again)."""
    start = account.first_unit + offset
    end = min(start + limit, account.first_unit + account.units)
    return list(DiscountUnitRow.objects.filter(calculation=calculation, position__gte=start,
                                               position__lt=end).order_by("position"))
