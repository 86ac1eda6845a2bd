"""Every write to plans, plan services and the service catalogue's ``Apps:`` entries.

Admin forms and actions, the API and the CSV import all call these. Each runs in one transaction,
locks the plan it changes, validates (raising ``apps.core.errors`` exceptions that name the field),
writes, and records a ``PlanEvent`` in the same transaction.

Who may change a plan (SPEC §8.1): the platform operator any plan; a top user the plans of its own
service except the top account's plan and that plan's parent chain, which the platform operator sets.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

from apps.accounts.models import Account
from apps.core import clock
from apps.core.errors import Conflict, DoesNotExist, Forbidden, InvalidInput, full_clean
from apps.core.money import clean_money
from apps.core.scoping import is_platform
from apps.accounts.operations import require_not_blocked
from apps.accounts.rights import may_manage_service_plans

from . import history
from .catalogue import APP_PREFIX
from .inheritance import plan_chain
from apps.accounts import audit

from .models import (CatalogueService, DeviceType, DeviceTypeLimit, Modem, Plan, PlanEvent, PlanEventAction, PlanService,
                     ServiceType, catalogue_types)

SCALAR_FIELDS = (
    "name", "parent", "description", "email", "block_by_balance", "block_balance", "limit_by_balance",
    "deny_balance", "block_by_days", "min_days", "allow_unknown_services", "currency_format",
    "history_period_days", "retranslator_mask", "sms_sender", "command_sender", "device_type_limit",
    "report_logo_url", "report_color",
)
MANY_FIELDS = ("device_types", "modems")
PLAN_FIELDS = SCALAR_FIELDS + MANY_FIELDS
SERVICE_ROW_FIELDS = ("name", "type", "interval", "cost_table", "description")
EXPORT_MODES = ("add", "replace", "sync")



# --- rights ---------------------------------------------------------------------------------------

def actor_name(actor) -> str:
    return actor.get_username() if actor is not None else "system"


def protected_plan_ids(service: Account) -> set[int]:
    """The top account's own plan and its parent chain: only the platform operator changes these."""
    plan_id = Account.objects.filter(pk=service.service_id or service.pk).values_list("plan_id", flat=True).first()
    plan = Plan.objects.filter(pk=plan_id).first() if plan_id else None
    return {p.pk for p in plan_chain(plan)} if plan else set()


def may_manage_plan(actor, plan: Plan) -> bool:
    if is_platform(actor):
        return True
    return may_manage_service_plans(actor, plan.service) and plan.pk not in protected_plan_ids(plan.service)


def require_manage_plan(actor, plan: Plan):
    if not may_manage_plan(actor, plan):
        raise Forbidden(gettext("Only the platform operator changes the top account's plan and its parents; "
                        "only top users and the platform operator manage plans."), code="permission_denied")


def _require_not_blocked(actor):
    require_not_blocked(actor)


def _record(*, plan: Plan | None, service: Account, action: str, actor, now: datetime, details: dict | None = None,
            plan_id: int | None = None, plan_name: str | None = None):
    PlanEvent.objects.create(
        service=service, plan_id_snapshot=plan.pk if plan is not None else plan_id,
        plan_name=plan.name if plan is not None else (plan_name or ""), action=action, actor=actor,
        actor_name=actor_name(actor), at=now, details=details or {},
    )


def _lock(plan: Plan) -> Plan:
    return Plan.objects.select_for_update().select_related("service").get(pk=plan.pk)


def _plan_values(plan: Plan) -> dict:
    """What the audit trail shows of a plan: every setting, names for the parent and the catalogues."""
    values = {name: getattr(plan, name) for name in SCALAR_FIELDS if name != "parent"}
    values["parent"] = plan.parent.name if plan.parent_id else None
    if plan.pk:
        values["device_types"] = sorted(str(d) for d in plan.device_types.all())
        values["modems"] = sorted(str(m) for m in plan.modems.all())
    return values


def _audit(action: str, *, actor, service: Account, now: datetime, subject_type: str = "plan", subject_id=None,
           subject_name: str = "", before: dict | None = None, after: dict | None = None):
    """One audit event of the plans app, scoped to the service (its top account)."""
    old, new = audit.changes(before or {}, after or {})
    audit.record(action, actor=actor, subject_type=subject_type, subject_id=subject_id, subject_name=subject_name,
                 account=service, before=old, after=new, now=now)


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "", [])}


# --- plan settings --------------------------------------------------------------------------------

def _clean_text(values: dict, name: str):
    """A text setting as stored: stripped, empty → null (its length and form are the model's rules)."""
    if name not in values:
        return
    value = values[name]
    values[name] = None if value is None or not str(value).strip() else str(value).strip()


def _clean_bool(values: dict, name: str):
    if name in values and values[name] is not None and not isinstance(values[name], bool):
        raise InvalidInput.field(name, gettext("Must be true, false or null (inherited)."))


def _clean_int(values: dict, name: str):
    value = values.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidInput.field(name, gettext("Must be a whole number."))


def _clean_money(values: dict, name: str):
    if name not in values or values[name] is None:
        return
    values[name] = clean_money(values[name], name)


def _clean_plan_values(values: dict) -> dict:
    """The input's shape, normalised (no database access): known fields only, texts stripped (empty → null),
    true/false/null, whole numbers, strict amounts, a device-type mode or null. Every rule of a value is the
    model's (``validators.py``, ``Plan.clean``), run by ``_prepare``."""
    values = dict(values)
    unknown = set(values) - set(PLAN_FIELDS)
    if unknown:
        raise InvalidInput.field(sorted(unknown)[0], gettext("Unknown field."))
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
    if "description" in values:
        values["description"] = (values["description"] or "").strip()
    for name in ("email", "currency_format", "retranslator_mask", "sms_sender", "command_sender", "report_logo_url",
                 "report_color"):
        _clean_text(values, name)
    for name in ("block_by_balance", "limit_by_balance", "block_by_days", "allow_unknown_services"):
        _clean_bool(values, name)
    for name in ("block_balance", "deny_balance"):
        _clean_money(values, name)
    _clean_int(values, "min_days")
    _clean_int(values, "history_period_days")
    if "device_type_limit" in values:
        mode = values["device_type_limit"] or None
        if mode is not None and mode not in DeviceTypeLimit.values:
            raise InvalidInput.field("device_type_limit", gettext("One of %(choices)s or null.") % {"choices": ', '.join(DeviceTypeLimit.values)})
        values["device_type_limit"] = mode
    return values


def _find_catalogue_rows(values: dict):
    """The device types and modems named by id (an unknown id is ``does_not_exist``); a modem must be one
    limited by plans (the others are usable by every plan already)."""
    if "device_types" in values:
        ids = [getattr(d, "pk", d) for d in values["device_types"]]
        found = list(DeviceType.objects.filter(pk__in=ids))
        if len(found) != len(set(ids)):
            raise DoesNotExist.field("device_types")
        values["device_types"] = found
    if "modems" in values:
        ids = [getattr(m, "pk", m) for m in values["modems"]]
        found = list(Modem.objects.filter(pk__in=ids))
        if len(found) != len(set(ids)):
            raise DoesNotExist.field("modems")
        unflagged = [m.name for m in found if not m.limit_by_plans]
        if unflagged:
            raise InvalidInput.field("modems", gettext("Not limited by plans (usable by every plan already): %(choices)s.") % {"choices": ', '.join(sorted(unflagged))})
        values["modems"] = found


def _snapshot(values: dict) -> dict:
    """JSON-friendly copy of changed values for the event."""
    out = {}
    for key, value in values.items():
        if key in MANY_FIELDS:
            out[key] = sorted(getattr(v, "pk", v) for v in value)
        elif key == "parent":
            out[key] = value.pk if value is not None else None
        elif value is None or isinstance(value, (bool, int, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


# The order a plan's errors are answered in, one field at a time (``core.errors.from_validation_error``).
PLAN_ERROR_ORDER = ("name", "description", "email", "currency_format", "retranslator_mask", "sms_sender",
                    "command_sender", "report_logo_url", "report_color", "block_balance", "deny_balance", "min_days",
                    "history_period_days", "device_type_limit", "parent", "device_types")


def _prepare(plan: Plan, service: Account, values: dict) -> tuple[dict, list]:
    """Every check of a plan change, without writing: the input's shape, the catalogue rows it names, then the
    model's rules (``full_clean``: the changed fields' validators, ``Plan.clean``). Sets the scalar fields on
    ``plan`` (unsaved) and answers the cleaned values and device types."""
    values = _clean_plan_values(values)
    _find_catalogue_rows(values)
    for name in SCALAR_FIELDS:
        if name in values:
            setattr(plan, name, values[name])
    if "device_types" in values:
        device_types = values["device_types"]
    else:
        device_types = list(plan.device_types.all()) if plan.pk else []
    plan.pending_device_type_ids = [d.pk for d in device_types]
    # The fields this change leaves alone are not checked again (as stored, they were checked when set); the
    # parent is checked by ``Plan.clean``, the service by the caller.
    unchanged = [f.name for f in Plan._meta.concrete_fields if f.name not in values or f.name in ("service", "parent")]
    full_clean(plan, exclude=unchanged if plan.pk else ("service", "parent"), order=PLAN_ERROR_ORDER)
    return values, device_types


def validate_plan(*, actor, service: Account, plan: Plan | None, values: dict) -> dict:
    """Run every check of ``create_plan`` / ``update_plan`` without writing (admin forms validate with
    it before any row is saved). Answers the cleaned values."""
    if plan is None:
        if not may_manage_service_plans(actor, service):
            raise Forbidden(gettext("Only top users and the platform operator manage plans."))
        draft = Plan(service=service)
    else:
        require_manage_plan(actor, plan)
        draft = Plan.objects.get(pk=plan.pk)
    cleaned, _ = _prepare(draft, service, values)
    return cleaned


def create_plan(*, actor, service: Account, values: dict, now: datetime | None = None) -> Plan:
    now = now or clock.now()
    if service is None or service.parent_id is not None:
        raise InvalidInput.field("service", gettext("Plans belong to a service (a top account)."))
    if not may_manage_service_plans(actor, service):
        raise Forbidden(gettext("Only top users and the platform operator manage plans."))
    _require_not_blocked(actor)
    if not (values.get("name") or "").strip():
        raise InvalidInput.field("name", gettext("A plan needs a name."))
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=service.pk).get()  # serialises name checks per service
        plan = Plan(service=service)
        values, device_types = _prepare(plan, service, values)
        plan.save()
        plan.device_types.set(device_types)
        plan.modems.set(values.get("modems", []))
        _record(plan=plan, service=service, action=PlanEventAction.CREATED, actor=actor, now=now,
                details=_snapshot(values))
        _audit("plan_created", actor=actor, service=service, now=now, subject_id=plan.pk, subject_name=plan.name,
               after=_present(_plan_values(plan)))
    return plan


def update_plan(*, actor, plan: Plan, changes: dict, now: datetime | None = None) -> Plan:
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan = _lock(plan)
        require_manage_plan(actor, plan)
        audit_before = _plan_values(plan)
        changes, device_types = _prepare(plan, plan.service, changes)
        plan.save()
        if "device_types" in changes:
            plan.device_types.set(device_types)
        if "modems" in changes:
            plan.modems.set(changes["modems"])
        if changes:
            _record(plan=plan, service=plan.service, action=PlanEventAction.CHANGED, actor=actor, now=now,
                    details=_snapshot(changes))
            audit_after = _plan_values(plan)
            if audit_after != audit_before:
                _audit("plan_updated", actor=actor, service=plan.service, now=now, subject_id=plan.pk,
                       subject_name=plan.name, before=audit_before, after=audit_after)
    return plan


def plan_uses(plan: Plan) -> dict[str, list[str]]:
    """What keeps a plan from being deleted: accounts on it, dealers handing it out, child plans."""
    return {
        "accounts": list(Account.objects.filter(plan=plan).order_by("name").values_list("name", flat=True)[:20]),
        "dealers": list(plan.dealers.order_by("name").values_list("name", flat=True)[:20]),
        "children": list(plan.children.order_by("name").values_list("name", flat=True)[:20]),
    }


def delete_plan(*, actor, plan: Plan, now: datetime | None = None):
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan = _lock(plan)
        require_manage_plan(actor, plan)
        uses = plan_uses(plan)
        if any(uses.values()):
            parts = [f"{kind}: {', '.join(names)}" for kind, names in uses.items() if names]
            raise Conflict(gettext("The plan is in use (%(choices)s).") % {"choices": '; '.join(parts)}, code="plan_in_use", extra={"uses": uses})
        plan_id, name, service = plan.pk, plan.name, plan.service
        audit_before = _present(_plan_values(plan))
        plan.delete()
        _record(plan=None, plan_id=plan_id, plan_name=name, service=service, action=PlanEventAction.DELETED,
                actor=actor, now=now)
        _audit("plan_deleted", actor=actor, service=service, now=now, subject_id=plan_id, subject_name=name,
               before=audit_before)


# --- plan service rows ----------------------------------------------------------------------------

SERVICE_ROW_ORDER = SERVICE_ROW_FIELDS  # the order a row's errors are answered in, one field at a time
# Checked by ``PlanService.clean`` (an empty type is the catalogue's, an empty interval none); the plan by the caller.
_SERVICE_ROW_EXCLUDE = ("plan", "type", "interval")


def _row_input(values: dict) -> dict:
    """A row's fields from an API body, a form or a file row, as the model takes them (texts stripped)."""
    return {"name": str(values.get("name") or "").strip(), "type": values.get("type") or "",
            "interval": values.get("interval") or "", "cost_table": values.get("cost_table") or "",
            "description": str(values.get("description") or "").strip()}


def _clean_row(row: PlanService) -> dict:
    """The model's rules for one row (``PlanService`` validators and ``clean``), answered as ``DomainError``."""
    full_clean(row, exclude=_SERVICE_ROW_EXCLUDE, order=SERVICE_ROW_ORDER)
    return row_values(row)


def clean_service_row(*, service_id: int, values: dict, catalogue: dict[str, str] | None = None) -> dict:
    """Validate one plan service row (API body, form, CSV row) and return it normalised, by the model's rules
    (``PlanService.clean``): the name in the catalogue with the catalogue's type, the canonical cost table, a
    flat fee only on a periodic service with an interval. ``catalogue``: the service's, when read once for many
    rows."""
    row = PlanService(**_row_input(values))
    row.catalogue = catalogue if catalogue is not None else catalogue_types(service_id)
    return _clean_row(row)


def row_values(row: PlanService) -> dict:
    return {name: getattr(row, name) for name in SERVICE_ROW_FIELDS}


def _lock_row(actor, row: PlanService) -> tuple[Plan, PlanService, dict]:
    """Inside an operation's transaction: the row's plan locked (the actor may manage it), then the row itself,
    and the row's values before the change."""
    plan = _lock(row.plan)
    require_manage_plan(actor, plan)
    row = PlanService.objects.select_for_update().get(pk=row.pk)
    return plan, row, row_values(row)


@contextmanager
def _rows_changing(plan: Plan, now: datetime):
    """Around a change of the plan's rows: the rows' history keeps the state before (seeded once) and after."""
    history.record_plan_rows([plan.pk], now=now, seed=True)
    yield
    history.record_plan_rows([plan.pk], now=now)


def add_plan_service(*, actor, plan: Plan, values: dict, now: datetime | None = None) -> PlanService:
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan = _lock(plan)
        require_manage_plan(actor, plan)
        row = PlanService(plan=plan, **_row_input(values))
        clean = _clean_row(row)  # with the plan: its catalogue, and one row per name
        with _rows_changing(plan, now):
            row.save(force_insert=True)
        _record(plan=plan, service=plan.service, action=PlanEventAction.SERVICE_ADDED, actor=actor, now=now,
                details={"after": clean})
        _audit("plan_service_added", actor=actor, service=plan.service, now=now, subject_type="plan_service",
               subject_id=row.pk, subject_name=f"{plan.name}: {row.name}", after=_present(clean))
    return row


def update_plan_service(*, actor, row: PlanService, changes: dict, now: datetime | None = None) -> PlanService:
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan, row, before = _lock_row(actor, row)
        merged = {**before, **{k: v for k, v in changes.items() if k in SERVICE_ROW_FIELDS}}
        if "type" not in changes and "name" in changes:
            merged["type"] = None  # a renamed row takes the new name's catalogue type
        row.plan = plan
        for key, value in _row_input(merged).items():
            setattr(row, key, value)
        clean = _clean_row(row)  # with the plan: its catalogue, and one row per name
        if clean != before:
            with _rows_changing(plan, now):
                row.save()
            _record(plan=plan, service=plan.service, action=PlanEventAction.SERVICE_CHANGED, actor=actor, now=now,
                    details={"before": before, "after": clean})
            _audit("plan_service_updated", actor=actor, service=plan.service, now=now, subject_type="plan_service",
                   subject_id=row.pk, subject_name=f"{plan.name}: {row.name}", before=before, after=clean)
    return row


def delete_plan_service(*, actor, row: PlanService, now: datetime | None = None):
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan, row, before = _lock_row(actor, row)
        row_id = row.pk
        with _rows_changing(plan, now):
            row.delete()
        _record(plan=plan, service=plan.service, action=PlanEventAction.SERVICE_REMOVED, actor=actor, now=now,
                details={"before": before})
        _audit("plan_service_removed", actor=actor, service=plan.service, now=now, subject_type="plan_service",
               subject_id=row_id, subject_name=f"{plan.name}: {before['name']}", before=_present(before))


# --- import and export between plans --------------------------------------------------------------

@dataclass
class TargetChanges:
    """What an import or export does to one target plan: computed first (shown on the confirmation
    page), then applied by the same code path."""

    plan: Plan
    add: list[dict] = field(default_factory=list)
    replace: list[dict] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # names left as they are (already in the target)
    remove: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.add), "replaced": len(self.replace), "kept": len(self.keep),
                "removed": len(self.remove)}


def _same_service_plans(plans, service_id: int, field_name: str) -> list[Plan]:
    plans = list(plans)
    if any(p.service_id != service_id for p in plans):
        raise DoesNotExist.field(field_name)
    return plans


def _chosen_source_rows(*, target: Plan, source_plans, names) -> list[dict]:
    """The rows to import: the sources' own rows, filtered by ``names`` if given; a name found in
    several sources is refused with the list, since there is no telling which one is meant."""
    sources = _same_service_plans(source_plans, target.service_id, "source_plans")
    if not sources:
        raise InvalidInput.field("source_plans", gettext("Choose at least one plan to import from."))
    if any(s.pk == target.pk for s in sources):
        raise InvalidInput.field("source_plans", gettext("A plan cannot import from itself."))
    rows = PlanService.objects.filter(plan__in=sources).select_related("plan").order_by("name", "plan__name")
    if names:
        rows = rows.filter(name__in=list(names))
    found: dict[str, list[PlanService]] = {}
    for row in rows:
        found.setdefault(row.name, []).append(row)
    if names:
        missing = sorted(set(names) - set(found))
        if missing:
            raise InvalidInput.field("names", gettext("Not in the chosen plans: %(choices)s.") % {"choices": ', '.join(missing)})
    clashes = {name: [r.plan.name for r in group] for name, group in found.items() if len(group) > 1}
    if clashes:
        listing = "; ".join(f"{name} ({', '.join(plans)})" for name, plans in sorted(clashes.items()))
        raise InvalidInput(gettext("These services are in several chosen plans: %(listing)s.") % {"listing": listing},
                           fields={"names": [gettext("In several chosen plans: %(listing)s.") % {"listing": listing}]}, extra={"clashes": clashes})
    return [row_values(group[0]) for _, group in sorted(found.items())]


def _changes_for(target: Plan, rows: list[dict], mode: str) -> TargetChanges:
    """Steps: compare the incoming rows with the target's own rows by name; ``add`` keeps the
    target's rows, ``replace`` overwrites same names, ``sync`` also removes names not incoming."""
    existing = {r.name: row_values(r) for r in target.services.all()}
    changes = TargetChanges(plan=target)
    incoming = {r["name"] for r in rows}
    for row in rows:
        if row["name"] not in existing:
            changes.add.append(row)
        elif mode == "add" or existing[row["name"]] == row:
            changes.keep.append(row["name"])
        else:
            changes.replace.append(row)
    if mode == "sync":
        changes.remove = sorted(set(existing) - incoming)
    return changes


def _update_rows(rows: list[tuple[int, dict]], batch: int = 1000):
    """``UPDATE … FROM (VALUES …)``: one statement per ``batch`` rows (``bulk_update``'s ``CASE`` per
    field costs seconds of Python at thousands of rows). PostgreSQL and SQLite ≥ 3.33 both name a
    ``VALUES`` list's columns ``column1``, ``column2``…"""
    from django.db import connection

    q = connection.ops.quote_name
    fields = SERVICE_ROW_FIELDS[1:]
    table = PlanService._meta.db_table
    assignments = ", ".join(f"{q(name)} = v.column{index}" for index, name in enumerate(fields, 2))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            values = ", ".join(["(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"] * len(chunk))
            params = [value for pk, row in chunk for value in (pk, *(row[name] for name in fields))]
            cursor.execute(f"UPDATE {q(table)} SET {assignments} FROM (VALUES {values}) AS v "
                           f"WHERE {q(table)}.{q('id')} = v.column1", params)


def _apply(changes: TargetChanges):
    """Set-based: one delete, one read and one update per 1,000 replaced rows, batched inserts."""
    plan = changes.plan
    if changes.remove:
        plan.services.filter(name__in=changes.remove).delete()
    if changes.replace:
        ids = dict(plan.services.filter(name__in=[row["name"] for row in changes.replace]).values_list("name", "pk"))
        _update_rows([(ids[row["name"]], row) for row in changes.replace])
    PlanService.objects.bulk_create([PlanService(plan=plan, **row) for row in changes.add], batch_size=1000)


def preview_import(*, actor, plan: Plan, source_plans, names=None, delete_existing: bool = False) -> TargetChanges:
    """What ``import_plan_services`` would do, without writing."""
    rows = _chosen_source_rows(target=plan, source_plans=source_plans, names=names)
    return _changes_for(plan, rows, "sync" if delete_existing else "add")


def import_plan_services(*, actor, plan: Plan, source_plans, names=None, delete_existing: bool = False,
                         now: datetime | None = None) -> dict[str, int]:
    """Import chosen services (or every service of the chosen plans) into ``plan``.

    Existing names are kept; with ``delete_existing`` the plan's table is replaced wholesale.
    Answers the counts ``added``, ``kept`` (chosen names the plan already had), ``removed``.
    """
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        plan = _lock(plan)
        require_manage_plan(actor, plan)
        rows = _chosen_source_rows(target=plan, source_plans=source_plans, names=names)
        history.record_plan_rows([plan.pk], now=now, seed=True)
        if delete_existing:
            changes = TargetChanges(plan=plan, add=rows, remove=sorted(plan.services.values_list("name", flat=True)))
            plan.services.all().delete()
            PlanService.objects.bulk_create([PlanService(plan=plan, **row) for row in rows])
        else:
            changes = _changes_for(plan, rows, "add")
            _apply(changes)
        history.record_plan_rows([plan.pk], now=now)
        counts = {"added": len(changes.add), "kept": len(changes.keep), "removed": len(changes.remove)}
        _record(plan=plan, service=plan.service, action=PlanEventAction.SERVICES_IMPORTED, actor=actor, now=now,
                details={"sources": sorted(p.pk for p in source_plans), "delete_existing": delete_existing,
                         "added": [r["name"] for r in changes.add], "removed": changes.remove, **counts})
        _audit("plan_services_imported", actor=actor, service=plan.service, now=now, subject_id=plan.pk,
               subject_name=plan.name, after={"sources": sorted(p.name for p in source_plans),
                                              "delete_existing": delete_existing, **counts})
    return counts


def _export_rows(plan: Plan, names) -> list[dict]:
    rows = plan.services.all()
    if names:
        rows = rows.filter(name__in=list(names))
        missing = sorted(set(names) - set(rows.values_list("name", flat=True)))
        if missing:
            raise InvalidInput.field("names", gettext("Not in this plan: %(choices)s.") % {"choices": ', '.join(missing)})
    return [row_values(r) for r in rows.order_by("name")]


def _export_targets(actor, plan: Plan, target_plans, mode: str) -> list[Plan]:
    if mode not in EXPORT_MODES:
        raise InvalidInput.field("mode", gettext("One of %(choices)s.") % {"choices": ', '.join(EXPORT_MODES)})
    targets = _same_service_plans(target_plans, plan.service_id, "target_plans")
    if not targets:
        raise InvalidInput.field("target_plans", gettext("Choose at least one plan to export to."))
    if any(t.pk == plan.pk for t in targets):
        raise InvalidInput.field("target_plans", gettext("A plan cannot export to itself."))
    for target in targets:
        if not may_manage_plan(actor, target):
            raise Forbidden(gettext("You may not change the plan '%(name)s'.") % {"name": target.name})
    return targets


def preview_export(*, actor, plan: Plan, target_plans, names=None, mode: str) -> list[TargetChanges]:
    """What ``export_plan_services`` would do to each target, without writing."""
    targets = _export_targets(actor, plan, target_plans, mode)
    rows = _export_rows(plan, names)
    return [_changes_for(target, rows, mode) for target in sorted(targets, key=lambda t: t.name)]


def export_plan_services(*, actor, plan: Plan, target_plans, names=None, mode: str,
                         now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Export chosen services of ``plan`` (all when ``names`` is empty) to other plans of its service.

    ``add`` skips names the target has, ``replace`` overwrites them, ``sync`` makes the target's table
    exactly the exported rows. Answers counts per target plan id.
    """
    now = now or clock.now()
    _require_not_blocked(actor)
    with transaction.atomic():
        targets = _export_targets(actor, plan, target_plans, mode)
        # Lock in id order so two exports touching the same plans cannot deadlock.
        locked = {p.pk: p for p in Plan.objects.select_for_update().select_related("service").filter(
            pk__in=sorted(t.pk for t in targets)).order_by("pk")}
        rows = _export_rows(plan, names)
        result = {}
        history.record_plan_rows(locked, now=now, seed=True)
        for target in sorted(locked.values(), key=lambda t: t.name):
            changes = _changes_for(target, rows, mode)
            _apply(changes)
            result[target.pk] = changes.counts()
            _record(plan=target, service=target.service, action=PlanEventAction.SERVICES_IMPORTED, actor=actor,
                    now=now, details={"from_plan": plan.pk, "mode": mode, **changes.counts(),
                                      "added": [r["name"] for r in changes.add],
                                      "replaced": [r["name"] for r in changes.replace], "removed": changes.remove})
        history.record_plan_rows(locked, now=now)
        _record(plan=plan, service=plan.service, action=PlanEventAction.SERVICES_EXPORTED, actor=actor, now=now,
                details={"mode": mode, "names": [r["name"] for r in rows],
                         "targets": {str(k): v for k, v in result.items()}})
        # One event with the counts per target plan (by name), in the exporting plan's history.
        _audit("plan_services_exported", actor=actor, service=plan.service, now=now, subject_id=plan.pk,
               subject_name=plan.name, after={"mode": mode, "services": len(rows),
                                              "targets": {locked[k].name: v for k, v in result.items()}})
    return result


# --- CSV / XLSX rows ------------------------------------------------------------------------------

FILE_COLUMNS = ("plan", "name", "type", "interval", "cost table", "description")
# ``type`` may be left out (the catalogue implies it); any other missing column would silently turn
# into a default (a missing cost table into "free and unlimited"), so the file is refused instead.
FILE_REQUIRED_COLUMNS = ("plan", "name", "interval", "cost table", "description")
_FILE_FIELDS = {"plan": "plan", "name": "name", "type": "type", "interval": "interval",
                "cost table": "cost_table", "description": "description"}


def missing_file_columns(headers) -> list[str]:
    present = {str(h or "").strip().lower() for h in headers or ()}
    return [c for c in FILE_REQUIRED_COLUMNS if c not in present]


@dataclass
class FileRow:
    """One data row of a plan-services file (``number`` counts data rows from 1, as the preview shows)."""

    number: int
    cells: dict  # column name → text, as read
    plan: Plan | None = None
    clean: dict | None = None  # the validated, canonical row
    errors: dict[str, list[str]] = field(default_factory=dict)
    outcome: str = ""  # "new", "update" or "skip" once checked
    before: dict | None = None  # the plan's row of that name, if any


@dataclass
class FileCheck:
    rows: list[FileRow]
    removed: dict[str, list[str]] = field(default_factory=dict)  # sync: plan name → names it loses

    @property
    def bad_rows(self) -> list[FileRow]:
        return [r for r in self.rows if r.errors]

    def counts(self) -> dict[str, int]:
        counts = {"new": 0, "update": 0, "skip": 0, "invalid": len(self.bad_rows),
                  "removed": sum(len(v) for v in self.removed.values())}
        for row in self.rows:
            if row.outcome:
                counts[row.outcome] += 1
        return counts


def _file_plan_error(actor, plan_name: str, plan: Plan | None, protected: set[int]) -> str | None:
    if not plan_name:
        return gettext("A plan name is required.")
    if plan is None:
        return gettext("No plan named “%(plan)s” in this service.") % {"plan": plan_name}
    if not is_platform(actor) and plan.pk in protected:
        return gettext("You may not change the plan “%(plan)s”.") % {"plan": plan_name}
    return None


def check_file_rows(*, actor, service: Account, rows, mode: str, progress=None) -> FileCheck:
    """Validate every row of a plan-services file and work out what it would do, without writing.

    Set-based: the service's plans, its catalogue, the protected plans and the existing rows of the
    plans the file names are each read once, so the number of queries does not grow with the rows.
    ``rows`` is an iterable of ``(number, {column: text})``. A (plan, name) pair given twice is an error
    on every row that gives it, in every mode. ``progress(done)`` is called every 1,000 rows.
    """
    if mode not in EXPORT_MODES:
        raise InvalidInput.field("mode", gettext("One of %(modes)s.") % {"modes": ", ".join(EXPORT_MODES)})
    if not may_manage_service_plans(actor, service):
        raise Forbidden(gettext("Only top users and the platform operator manage plans."))
    plans = {p.name: p for p in Plan.objects.filter(service=service)}
    protected = set() if is_platform(actor) else protected_plan_ids(service)
    catalogue = catalogue_types(service.pk)
    checked: list[FileRow] = []
    for done, (number, cells) in enumerate(rows, 1):
        row = FileRow(number=number, cells=cells)
        plan_name = str(cells.get("plan") or "").strip()
        row.plan = plans.get(plan_name)
        error = _file_plan_error(actor, plan_name, row.plan, protected)
        if error:
            row.errors["plan"] = [error]
        values = {_FILE_FIELDS[c]: cells.get(c) for c in FILE_COLUMNS if c != "plan"}
        try:
            row.clean = clean_service_row(service_id=service.pk, values=values, catalogue=catalogue)
        except InvalidInput as exc:
            for name, reasons in (exc.fields or {"name": [exc.detail]}).items():
                row.errors.setdefault(name, []).extend(str(r) for r in reasons)
        checked.append(row)
        if progress is not None and done % 1000 == 0:
            progress(done)
    by_pair: dict[tuple[str, str], list[FileRow]] = {}
    for row in checked:
        name = row.clean["name"] if row.clean else str(row.cells.get("name") or "").strip()
        if name:
            by_pair.setdefault((str(row.cells.get("plan") or "").strip(), name), []).append(row)
    for (plan_name, name), group in by_pair.items():
        if len(group) > 1:
            numbers = ", ".join(str(r.number) for r in group)
            for row in group:
                row.errors.setdefault("name", []).append(gettext(
                    "“%(name)s” is listed for the plan “%(plan)s” on rows %(rows)s; a plan lists a service once.")
                    % {"name": name, "plan": plan_name, "rows": numbers})
    named = {row.plan.pk: row.plan for row in checked if row.plan is not None}
    existing: dict[tuple[int, str], dict] = {}
    for current in PlanService.objects.filter(plan__in=list(named)).only("plan_id", *SERVICE_ROW_FIELDS):
        existing[(current.plan_id, current.name)] = row_values(current)
    for row in checked:
        if row.errors:
            continue
        row.before = existing.get((row.plan.pk, row.clean["name"]))
        if row.before is None:
            row.outcome = "new"
        elif mode == "add" or row.before == row.clean:
            row.outcome = "skip"  # add only keeps the plan's own row
        else:
            row.outcome = "update"
    result = FileCheck(rows=checked)
    if mode == "sync":
        listed: dict[int, set[str]] = {}
        for row in checked:
            if row.plan is not None and row.clean:
                listed.setdefault(row.plan.pk, set()).add(row.clean["name"])
        for plan in sorted(named.values(), key=lambda p: p.name):
            gone = sorted(name for (plan_id, name) in existing if plan_id == plan.pk and name not in
                          listed.get(plan.pk, set()))
            if gone:
                result.removed[plan.name] = gone
    return result


def import_file_rows(*, actor, service: Account, rows, mode: str, now: datetime | None = None,
                     progress=None) -> FileCheck:
    """Import a plan-services file: ``add`` keeps rows whose names a plan has, ``replace`` overwrites
    them, ``sync`` also removes, per plan named in the file, the rows the file does not list.

    All or nothing: the plans the file names are locked (in id order), the rows checked again under
    the locks, and any bad row refuses the whole file (``InvalidInput`` with ``extra["rows"]``).
    Writes are set-based (one statement per kind and batch) and record one ``PlanEvent`` per row
    changed, as the row-by-row operations do.
    """
    now = now or clock.now()
    _require_not_blocked(actor)
    rows = list(rows)
    with transaction.atomic():
        names = sorted({str(cells.get("plan") or "").strip() for _, cells in rows})
        locked = {p.pk: p for p in Plan.objects.select_for_update().filter(service=service, name__in=names)
                  .order_by("pk")}
        checked = check_file_rows(actor=actor, service=service, rows=rows, mode=mode, progress=progress)
        bad = checked.bad_rows
        if bad:
            error = InvalidInput(
                gettext("%(count)s rows of the file are bad; nothing was imported.") % {"count": len(bad)},
                fields={"import_file": [gettext("Rows with errors: %(rows)s.") % {
                    "rows": ", ".join(str(r.number) for r in bad[:50]) + ("…" if len(bad) > 50 else "")}]},
                extra={"bad_rows": len(bad)})
            error.check = checked  # every row with its reasons, for the page that shows them
            raise error
        events = []
        by_plan: dict[int, TargetChanges] = {pk: TargetChanges(plan=plan) for pk, plan in locked.items()}
        for row in checked.rows:
            changes = by_plan[row.plan.pk]
            if row.outcome == "new":
                changes.add.append(row.clean)
                events.append((row.plan, PlanEventAction.SERVICE_ADDED, {"after": row.clean, "by": "file import"}))
            elif row.outcome == "update":
                changes.replace.append(row.clean)
                events.append((row.plan, PlanEventAction.SERVICE_CHANGED,
                               {"before": row.before, "after": row.clean, "by": "file import"}))
            else:
                changes.keep.append(row.clean["name"])
        for plan_name, gone in checked.removed.items():
            plan = next(p for p in locked.values() if p.name == plan_name)
            by_plan[plan.pk].remove = gone
            before = {r.name: row_values(r) for r in plan.services.filter(name__in=gone)}
            events.extend((plan, PlanEventAction.SERVICE_REMOVED, {"before": before[name], "by": "file import (sync)"})
                          for name in gone)
        history.record_plan_rows(locked, now=now, seed=True)
        for changes in by_plan.values():
            _apply(changes)
        history.record_plan_rows(locked, now=now)
        PlanEvent.objects.bulk_create([
            PlanEvent(service=service, plan_id_snapshot=plan.pk, plan_name=plan.name, action=action, actor=actor,
                      actor_name=actor_name(actor), at=now, details=details)
            for plan, action, details in events], batch_size=1000)
        # One event for the file, with its counts per plan (SPEC §9.2: imports are one event with counts).
        counts = {p.name: c.counts() for p, c in ((locked[pk], c) for pk, c in by_plan.items())
                  if any(c.counts().values())}
        audit.record("plan_services_file_imported", actor=actor, subject_type="plan", subject_name=service.name,
                     account=service, after={"mode": mode, "plans": counts}, now=now)
    return checked


# --- application services in the catalogue ---------------------------------------------------------

def add_app_service(*, actor, service: Account, name: str, description: str = "",
                    now: datetime | None = None) -> CatalogueService:
    """Add ``Apps: <name>`` to the catalogue of one service (its top user or the platform operator).

    ``name`` may be given with or without the prefix. Application services are on demand.
    """
    now = now or clock.now()
    if service is None or service.parent_id is not None:
        raise InvalidInput.field("service", gettext("Application services belong to a service (a top account)."))
    if not may_manage_service_plans(actor, service):
        raise Forbidden(gettext("Only the service's top users and the platform operator add application services."))
    _require_not_blocked(actor)
    bare = (name or "").strip()
    if bare.lower().startswith(APP_PREFIX.lower()):
        bare = bare[len(APP_PREFIX):].strip()
    if not bare:
        raise InvalidInput.field("name", gettext("Give the application's name."))
    full = f"{APP_PREFIX}{bare}"
    if len(full) > 100:
        raise InvalidInput.field("name", gettext("At most 100 characters."))
    description = (description or "").strip()
    if len(description) > 500:
        raise InvalidInput.field("description", gettext("At most 500 characters."))
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=service.pk).get()
        taken = CatalogueService.objects.filter(name__iexact=full).filter(
            service__isnull=True) | CatalogueService.objects.filter(name__iexact=full, service=service)
        if taken.exists():
            raise InvalidInput.field("name", gettext("'%(full)s' is already in the catalogue.") % {"full": full})
        entry = CatalogueService.objects.create(name=full, type=ServiceType.ON_DEMAND, description=description,
                                                service=service)
        _record(plan=None, service=service, action=PlanEventAction.APP_SERVICE_ADDED, actor=actor, now=now,
                details={"name": full, "description": description})
        _audit("app_service_added", actor=actor, service=service, now=now, subject_type="catalogue_service",
               subject_id=entry.pk, subject_name=full, after=_present({"name": full, "description": description}))
    return entry
