"""Every write on units, their features, monitoring users and access grants.

Admin forms and actions, the API and other apps call these functions and nothing else saves these
models. Each one runs in one transaction, locks the rows it changes, validates (raising
``apps.core.errors`` exceptions that name the field), moves the kernel's object counters and writes
a ``UnitEvent`` in the same transaction, so a refusal anywhere leaves nothing behind.

Rights (SPEC §8.1): the platform operator acts on every unit, a top user on its service, a
distributor on its subtree; a restricted distributor has no write here.
"""

import re
from collections.abc import Iterable
from datetime import datetime

from django.utils.translation import gettext
from django.db import IntegrityError, transaction

from apps.accounts import audit, rights
from apps.accounts.models import Account, BillingMethod
from apps.accounts.operations import actor_name, require_not_blocked
from apps.core import clock
from apps.core.errors import DoesNotExist, Forbidden, InvalidInput, NotFound
from apps.plans.inheritance import effective_settings, plan_chain
from apps.plans.models import DeviceType, DeviceTypeLimit, Modem
from apps.services.operations import KernelDenied, move_objects

from . import extensions, signals
from .models import (UNIQUE_ID_PATTERN, AccessGrant, DeactivationReason, EcoCriterion,
                     MonitoringUser, Sensor, SensorType, ServiceInterval, Unit, UnitAction, UnitCommand, UnitEvent)


UNIQUE_ID_RE = re.compile(UNIQUE_ID_PATTERN)
NAME_MAX = 200
FEATURE_NAME_MAX = 100
# The kernel moves at most 1,000 objects at once (SPEC §8.3); a unit's list stays within one move.
FEATURE_LIST_MAX = 1000
# Kernel services counting a unit and its per-unit features (SPEC §8.2 "per-unit services").
UNIT_SERVICE = "avl_unit"
SENSOR_SERVICE = "unit_sensors"
COMMAND_SERVICE = "unit_alias"
MONITORING_USER_SERVICE = "storage_user"

UNIT_FIELDS = ("name", "unique_id", "device_type", "modem", "account", "active", "eco_driving",
               "road_limits_speeding", "eco_criteria", "sensors", "commands", "service_intervals")


# --- rights -----------------------------------------------------------------------------------------

def require_unit_writer(actor):
    """Writers are the platform operator, top users and distributors whose account is not blocked."""
    if not rights.may_write_units(actor):
        raise Forbidden(gettext("Your role may not change units or monitoring users."))
    require_not_blocked(actor)


def _require_account_in_reach(actor, account: Account | None, field: str = "account") -> Account:
    """An account named in a body must exist and be visible, else the same 400 either way."""
    if account is None or not rights.in_reach(actor, account):
        raise DoesNotExist.field(field)
    return account


# --- validation --------------------------------------------------------------------------------------

def _clean_name(name, field: str = "name", max_length: int = NAME_MAX) -> str:
    if not isinstance(name, str | None):
        raise InvalidInput.field(field, gettext("Must be text."))
    name = (name or "").strip()
    if not name:
        raise InvalidInput.field(field, gettext("This field is required."))
    if len(name) > max_length:
        raise InvalidInput.field(field, gettext("At most %(max_length)s characters.") % {"max_length": max_length})
    return name


def _clean_unique_id(unique_id, *, service_id: int, exclude_pk: int | None = None) -> str:
    if not isinstance(unique_id, str) or not UNIQUE_ID_RE.match(unique_id):
        raise InvalidInput.field("unique_id", gettext("1–64 characters: letters, digits, '_' or '-'."))
    taken = Unit.objects.filter(service_id=service_id, unique_id=unique_id, archived_at__isnull=True)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise InvalidInput.field("unique_id", gettext("A unit with this unique id already exists in this service."))
    return unique_id


def _clean_named_items(items, field: str, *, with_type: bool = False) -> list[dict]:
    """``[{name}]`` (or ``[{name, type}]`` for sensors) → clean dicts; errors name the field and position."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise InvalidInput.field(field, gettext("Must be a list."))
    if len(items) > FEATURE_LIST_MAX:
        raise InvalidInput.field(field, gettext("At most %(limit)s items.") % {"limit": FEATURE_LIST_MAX})
    out = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InvalidInput.field(field, gettext("Item %(position)s: must be an object with a name.") % {"position": position})
        name = (item.get("name") or "").strip() if isinstance(item.get("name"), str) else ""
        if not name or len(name) > FEATURE_NAME_MAX:
            raise InvalidInput.field(field, gettext("Item %(position)s: a name of 1–%(limit)s characters is required.") % {"position": position, "limit": FEATURE_NAME_MAX})
        clean = {"name": name}
        if with_type:
            if item.get("type") not in SensorType.values:
                raise InvalidInput.field(field, gettext("Item %(position)s: unknown sensor type %(type)s.") % {"position": position, "type": repr(item.get('type'))})
            clean["type"] = item["type"]
        out.append(clean)
    return out


def _clean_eco_criteria(values) -> list[str]:
    """Known criteria, each once, in the order given (the discount counts a repeated criterion once)."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise InvalidInput.field("eco_criteria", gettext("Must be a list."))
    unknown = [v for v in values if v not in EcoCriterion.values]
    if unknown:
        raise InvalidInput.field("eco_criteria", gettext("Unknown criterion %(unknown)s.") % {"unknown": repr(unknown[0])})
    return list(dict.fromkeys(values))


def _clean_bool(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput.field(field, gettext("Must be true or false."))
    return value


def _accounts_on_path(account: Account) -> list[Account]:
    """The account and its ancestors (top first), with their plans, in one query."""
    ids = [*account.ancestor_ids(), account.pk]
    by_id = Account.objects.select_related("plan").in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def device_type_refusal(account: Account, device_type: DeviceType | None) -> str | None:
    """Why the device-type limits of the account's plan and of every ancestor's plan refuse the type.

    Each plan's mode comes from ``effective_settings`` (it may be inherited); the list of types is
    the one of the plan that sets the mode, since mode and list are one setting in the plan form.
    Under "only", a unit without a device type is refused (an unknown type is not a listed one).
    """
    for holder in _accounts_on_path(account):
        if holder.plan is None:
            continue
        limit = effective_settings(holder.plan)["device_type_limit"]
        if limit.value in (None, "", DeviceTypeLimit.NONE):
            continue
        source = next((p for p in plan_chain(holder.plan) if f"plan:{p.pk}" == limit.source), holder.plan)
        listed = set(source.device_types.values_list("pk", flat=True))
        type_id = device_type.pk if device_type is not None else None
        if limit.value == DeviceTypeLimit.ONLY and type_id not in listed:
            return gettext("The plan '%(plan)s' of account '%(account)s' allows only its listed device types.") % {
                "plan": holder.plan.name, "account": holder.name}
        if limit.value == DeviceTypeLimit.EXCEPT and type_id in listed:
            return gettext("The plan '%(plan)s' of account '%(account)s' forbids this device type.") % {
                "plan": holder.plan.name, "account": holder.name}
    return None


def modem_refusal(account: Account, modem: Modem | None) -> str | None:
    """Why the modem may not be used in this account: a modem limited to plans must list the account's
    plan or a plan it inherits from."""
    if modem is None or not modem.limit_by_plans:
        return None
    chain_ids = {p.pk for p in plan_chain(account.plan)}
    if chain_ids and modem.plans.filter(pk__in=chain_ids).exists():
        return None
    return gettext("The modem '%(modem)s' is not allowed to the plan of account '%(account)s'.") % {
        "modem": modem.name, "account": account.name}


def _check_hardware(account: Account, *, device_type, modem):
    reason = device_type_refusal(account, device_type)
    if reason:
        raise InvalidInput.field("device_type", reason)
    reason = modem_refusal(account, modem)
    if reason:
        raise InvalidInput.field("modem", reason)


def _check_unit_account(account: Account):
    if account.is_top:
        raise InvalidInput.field("account", gettext("Units cannot be created in a top account."))


def _bills_by_codes(account: Account) -> bool:
    """The service's billing method (on the top account; callers with many units select_related it)."""
    return account.service.billing_method == BillingMethod.ACTIVATION_CODES


# --- codes (read through what the codes app registers; none when it is absent) -----------------------

def current_codes(unit_ids: Iterable[int]) -> dict:
    """``{unit_id: code}`` for the units' live codes, read through the codes app when it is installed."""
    unit_ids = list(unit_ids)
    reader = extensions.codes.get("current")
    return reader(unit_ids) if reader and unit_ids else {}


def queued_codes(unit_ids: Iterable[int]) -> dict:
    """``{unit_id: code}`` for the codes queued on the units (SPEC §9.5), through the codes app."""
    unit_ids = list(unit_ids)
    reader = extensions.codes.get("queued")
    return reader(unit_ids) if reader and unit_ids else {}


def activation_refusal(unit: Unit, *, active: bool, now: datetime, codes: dict | None = None) -> str | None:
    """Why a manual (de)activation of ``unit`` is refused, or None. Shared by the operation and by the
    admin's confirmation page (which passes ``codes`` read once for all its rows). Under billing by
    activation codes a unit without a live code stays deactivated: a code, not an operator, activates it."""
    if unit.archived_at is not None:
        return gettext("The unit is archived.")
    if active and not unit.active and _bills_by_codes(unit.account):
        codes = current_codes([unit.pk]) if codes is None else codes
        code = codes.get(unit.pk)
        if code is None or code.state(at=now) != "active":
            return gettext("This service bills by activation codes: assign or apply a live code to activate the unit.")
    return None


# --- kernel counters --------------------------------------------------------------------------------

# The unit's field whose list a per-unit service counts: a refusal names it (SPEC §8.2).
PER_UNIT_FIELDS = {SENSOR_SERVICE: "sensors", COMMAND_SERVICE: "commands"}


def _move_counter(*, account: Account, service: str, delta: int, actor, now: datetime):
    """Move one of the kernel's object counters; the kernel refuses (``KernelDenied``, 403) when a
    limit of the account's path denies an increase."""
    if delta == 0:
        return
    move_objects(account=account, service=service, delta=delta, actor=actor, now=now, internal=True)


def _move_feature_counter(*, account: Account, service: str, old_count: int, new_count: int, actor, now: datetime):
    """Move a per-unit service's counter from the unit's ``old_count`` to ``new_count`` items.

    The kernel checks an increase against each charged table as positions 1..``new_count`` of this
    unit (its own count, not the account's total); a refusal names the unit's field."""
    delta = new_count - old_count
    if delta == 0:
        return
    try:
        move_objects(account=account, service=service, delta=delta, actor=actor, now=now, internal=True,
                     unit_count=new_count if delta > 0 else None)
    except KernelDenied as denial:
        field = PER_UNIT_FIELDS[service]
        denial.fields = {field: [denial.detail]}
        denial.detail = f"{field}: {denial.detail}"
        raise


def _move_unit_counters(*, account: Account, sign: int, sensors: int, commands: int, actor, now):
    """Count (sign=+1) or release (sign=-1) a unit and its per-unit features on ``account``."""
    _move_counter(account=account, service=UNIT_SERVICE, delta=sign, actor=actor, now=now)
    for service, count in ((SENSOR_SERVICE, sensors), (COMMAND_SERVICE, commands)):
        old, new = (0, count) if sign > 0 else (count, 0)
        _move_feature_counter(account=account, service=service, old_count=old, new_count=new, actor=actor, now=now)


# --- events -------------------------------------------------------------------------------------------

def unit_values(unit: Unit) -> dict:
    """What the audit trail shows of a unit: its fields and features by name (SPEC §9.8)."""
    return {
        "name": unit.name, "account": unit.account.name, "unique_id": unit.unique_id,
        "device_type": str(unit.device_type) if unit.device_type_id else None,
        "modem": str(unit.modem) if unit.modem_id else None, "active": unit.active,
        "eco_driving": unit.eco_driving, "road_limits_speeding": unit.road_limits_speeding,
        "eco_criteria": list(unit.eco_criteria or []),
        "sensors": sorted(f"{s.name} ({s.type})" for s in unit.sensors.all()),
        "commands": sorted(c.name for c in unit.commands.all()),
        "service_intervals": sorted(i.name for i in unit.service_intervals.all()),
    }


_AUDIT_ACTIONS = {
    UnitAction.CREATED: ("unit_created", "unit"), UnitAction.UPDATED: ("unit_updated", "unit"),
    UnitAction.MOVED: ("unit_moved", "unit"), UnitAction.ACTIVATED: ("unit_activated", "unit"),
    UnitAction.DEACTIVATED: ("unit_deactivated", "unit"), UnitAction.ARCHIVED: ("unit_archived", "unit"),
    UnitAction.USER_CREATED: ("monitoring_user_created", "monitoring_user"),
    UnitAction.ACCESS_GRANTED: ("grant_created", "grant"), UnitAction.ACCESS_REVOKED: ("grant_revoked", "grant"),
}


def _record(action: str, *, account: Account, actor, now: datetime, unit: Unit | None = None,
            monitoring_user: MonitoringUser | None = None, details: dict | None = None,
            before: dict | None = None, after: dict | None = None, grant: AccessGrant | None = None) -> UnitEvent:
    """The units app's own event and the audit trail's (readable ``before``/``after``; unchanged values dropped)."""
    audit_action, subject_type = _AUDIT_ACTIONS[action]
    subject = {"unit": unit, "monitoring_user": monitoring_user, "grant": grant}[subject_type]
    old, new = audit.changes(before or {}, after or {})
    audit.record(audit_action, actor=actor, subject_type=subject_type, subject_id=getattr(subject, "pk", None),
                 subject_name=str(subject) if subject is not None else "", account=account, before=old, after=new,
                 now=now)
    return UnitEvent.objects.create(
        at=now, action=action, service_id_snapshot=account.service_id, account_path=account.path,
        account_name=account.name, unit_id_snapshot=unit.pk if unit else None, unit_name=unit.name if unit else "",
        monitoring_user_id_snapshot=monitoring_user.pk if monitoring_user else None,
        actor_name=actor_name(actor), details=details or {},
    )


# --- units --------------------------------------------------------------------------------------------

def _replace_features(unit: Unit, *, sensors=None, commands=None, service_intervals=None):
    """Replace each list given (None leaves it as it is), with one bulk insert per list."""
    if sensors is not None:
        unit.sensors.all().delete()
        Sensor.objects.bulk_create([Sensor(unit=unit, name=s["name"], type=s["type"]) for s in sensors])
    if commands is not None:
        unit.commands.all().delete()
        UnitCommand.objects.bulk_create([UnitCommand(unit=unit, name=c["name"]) for c in commands])
    if service_intervals is not None:
        unit.service_intervals.all().delete()
        ServiceInterval.objects.bulk_create([ServiceInterval(unit=unit, name=i["name"]) for i in service_intervals])


def _save_unit(unit: Unit, field: str = "unique_id"):
    """Save under a savepoint: two writers racing for one unique id get the field error, not a 500."""
    try:
        with transaction.atomic():
            unit.save()
    except IntegrityError:
        raise InvalidInput.field(field, gettext("A unit with this unique id already exists in this service.")) from None


@transaction.atomic
def create_unit(*, actor, account: Account, name: str, unique_id: str, device_type: DeviceType | None = None,
                modem: Modem | None = None, sensors=None, commands=None, service_intervals=None,
                eco_driving: bool = False, road_limits_speeding: bool = False, eco_criteria=None,
                now: datetime | None = None) -> Unit:
    """Create a unit in a non-top account of the actor's subtree and count it in the kernel.

    Under billing by activation codes the unit starts deactivated (``no_code``) until a code is
    assigned or applied.
    """
    now = now or clock.now()
    require_unit_writer(actor)
    _require_account_in_reach(actor, account)
    _check_unit_account(account)
    name = _clean_name(name)
    unique_id = _clean_unique_id(unique_id, service_id=account.service_id)
    _check_hardware(account, device_type=device_type, modem=modem)
    sensors = _clean_named_items(sensors, "sensors", with_type=True)
    commands = _clean_named_items(commands, "commands")
    service_intervals = _clean_named_items(service_intervals, "service_intervals")
    unit = Unit(service_id=account.service_id, account=account, name=name, unique_id=unique_id,
                device_type=device_type, modem=modem,
                eco_driving=_clean_bool(eco_driving, "eco_driving"),
                road_limits_speeding=_clean_bool(road_limits_speeding, "road_limits_speeding"),
                eco_criteria=_clean_eco_criteria(eco_criteria))
    if _bills_by_codes(account):
        unit.active, unit.deactivated_at, unit.deactivation_reason = False, now, DeactivationReason.NO_CODE
    _save_unit(unit)
    _replace_features(unit, sensors=sensors, commands=commands, service_intervals=service_intervals)
    _move_unit_counters(account=account, sign=+1, sensors=len(sensors), commands=len(commands),
                        actor=actor, now=now)
    _record(UnitAction.CREATED, account=account, unit=unit, actor=actor, now=now,
            details={"unique_id": unique_id, "active": unit.active, "sensors": len(sensors),
                     "commands": len(commands), "service_intervals": len(service_intervals)},
            after={k: v for k, v in unit_values(unit).items() if v not in (None, [], False)})
    return unit


def _lock_unit(unit: Unit) -> Unit:
    """Lock the unit's row alone, then read its account. A join in the locking query would lose the
    row when a concurrent move commits first: PostgreSQL re-checks the new row version against the
    account row it had already joined, which no longer matches."""
    try:
        locked = Unit.objects.select_for_update().get(pk=unit.pk, archived_at__isnull=True)
    except Unit.DoesNotExist:
        raise NotFound(gettext("No such unit.")) from None
    locked.account = Account.objects.select_related("service").get(pk=locked.account_id)
    return locked


def _require_unit_in_reach(actor, unit: Unit):
    """The unit named by the request path: out of the actor's scope answers 404, as reading would."""
    if not rights.in_reach(actor, unit.account):
        raise NotFound(gettext("No such unit."))


def _apply_field_changes(unit: Unit, changes: dict) -> dict:
    """Validate and set the unit's own fields named in ``changes``; ``{field: {from, to}}`` of what changed."""
    changed = {}
    if "name" in changes:
        name = _clean_name(changes["name"])
        if name != unit.name:
            changed["name"] = {"from": unit.name, "to": name}
            unit.name = name
    if "unique_id" in changes and changes["unique_id"] != unit.unique_id:
        unique_id = _clean_unique_id(changes["unique_id"], service_id=unit.service_id, exclude_pk=unit.pk)
        changed["unique_id"] = {"from": unit.unique_id, "to": unique_id}
        unit.unique_id = unique_id
    for field in ("device_type", "modem"):
        if field in changes and changes[field] != getattr(unit, field):
            changed[field] = {"from": str(getattr(unit, field) or ""), "to": str(changes[field] or "")}
            setattr(unit, field, changes[field])
    for field in ("eco_driving", "road_limits_speeding"):
        if field in changes and _clean_bool(changes[field], field) != getattr(unit, field):
            changed[field] = {"from": getattr(unit, field), "to": changes[field]}
            setattr(unit, field, changes[field])
    if "eco_criteria" in changes:
        criteria = _clean_eco_criteria(changes["eco_criteria"])
        if criteria != unit.eco_criteria:
            changed["eco_criteria"] = {"from": unit.eco_criteria, "to": criteria}
            unit.eco_criteria = criteria
    return changed


def _clean_feature_lists(changes: dict) -> dict:
    """The feature lists given in ``changes``, cleaned; None for a list not given (it is kept)."""
    return {
        "sensors": _clean_named_items(changes["sensors"], "sensors", with_type=True) if "sensors" in changes else None,
        "commands": _clean_named_items(changes["commands"], "commands") if "commands" in changes else None,
        "service_intervals": (_clean_named_items(changes["service_intervals"], "service_intervals")
                              if "service_intervals" in changes else None),
    }


@transaction.atomic
def update_unit(*, actor, unit: Unit, changes: dict, now: datetime | None = None) -> Unit:
    """Change a unit's fields and features; ``account`` moves it, ``active`` (de)activates it by hand.

    A feature list given replaces the list. Steps: 1. lock and check rights; 2. validate every change
    against the unit's (possibly new) account; 3. move the kernel counters (a move releases them on
    the old account before counting them on the new one, so a shared ancestor is not counted twice);
    4. save, replace lists, then apply ``active``; 5. record what changed.
    """
    now = now or clock.now()
    require_unit_writer(actor)
    unknown = set(changes) - set(UNIT_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidInput.field(field, gettext("This field cannot be changed."))
    unit = _lock_unit(unit)
    _require_unit_in_reach(actor, unit)
    old_account = unit.account
    changed = {}
    audit_before = unit_values(unit)

    new_account = old_account
    if "account" in changes and getattr(changes["account"], "pk", None) != old_account.pk:
        new_account = _require_account_in_reach(actor, changes["account"])
        if new_account.service_id != unit.service_id:
            raise DoesNotExist.field("account")
        _check_unit_account(new_account)
        signals.unit_moving.send(sender=Unit, unit=unit, new_account=new_account)
        changed["account"] = {"from": old_account.name, "to": new_account.name}
    changed.update(_apply_field_changes(unit, changes))
    if {"device_type", "modem"} & changed.keys() or new_account is not old_account:
        _check_hardware(new_account, device_type=unit.device_type, modem=unit.modem)
    lists = _clean_feature_lists(changes)
    if "active" in changes:
        _clean_bool(changes["active"], "active")

    sensor_count = unit.sensors.count()
    command_count = unit.commands.count()
    new_sensors = len(lists["sensors"]) if lists["sensors"] is not None else sensor_count
    new_commands = len(lists["commands"]) if lists["commands"] is not None else command_count
    if new_account is not old_account:
        _move_unit_counters(account=old_account, sign=-1, sensors=sensor_count, commands=command_count,
                            actor=actor, now=now)
        unit.account = new_account
        _move_unit_counters(account=new_account, sign=+1, sensors=new_sensors, commands=new_commands,
                            actor=actor, now=now)
    else:
        _move_feature_counter(account=old_account, service=SENSOR_SERVICE, old_count=sensor_count,
                              new_count=new_sensors, actor=actor, now=now)
        _move_feature_counter(account=old_account, service=COMMAND_SERVICE, old_count=command_count,
                              new_count=new_commands, actor=actor, now=now)
    for field, items in lists.items():
        if items is not None:
            changed[field] = {"count": len(items)}
    _save_unit(unit)
    _replace_features(unit, **lists)
    if changed:
        after = unit_values(unit)
        after["active"] = audit_before["active"]  # set_unit_active records its own event
        _record(UnitAction.MOVED if "account" in changed else UnitAction.UPDATED, account=unit.account, unit=unit,
                actor=actor, now=now, details=changed, before=audit_before, after=after)
    if "active" in changes and changes["active"] != unit.active:
        unit = set_unit_active(actor=actor, unit=unit, active=changes["active"], now=now)
    return unit


@transaction.atomic
def set_unit_active(*, actor, unit: Unit, active: bool, now: datetime | None = None) -> Unit:
    """Activate or deactivate a unit by hand (reason ``manual``). Doing what is already done is a no-op."""
    now = now or clock.now()
    require_unit_writer(actor)
    unit = _lock_unit(unit)
    _require_unit_in_reach(actor, unit)
    if unit.active == active:
        return unit
    reason = activation_refusal(unit, active=active, now=now)
    if reason:
        raise Forbidden(reason, code="billing_by_codes", fields={"active": [reason]})
    if active:
        unit.active, unit.deactivated_at, unit.deactivation_reason = True, None, DeactivationReason.NONE
    else:
        unit.active, unit.deactivated_at, unit.deactivation_reason = False, now, DeactivationReason.MANUAL
    unit.save(update_fields=["active", "deactivated_at", "deactivation_reason"])
    _record(UnitAction.ACTIVATED if active else UnitAction.DEACTIVATED, account=unit.account, unit=unit,
            actor=actor, now=now, before={"active": not active},
            after={"active": active, "deactivation_reason": None if active else unit.deactivation_reason})
    return unit


@transaction.atomic
def archive_unit(*, actor, unit: Unit, now: datetime | None = None) -> Unit:
    """Archive instead of deleting (units with history are never deleted, SPEC §8.5): the unit is
    hidden, deactivated, its counters are released, its grants removed, and the registered hooks
    run (the codes app unassigns its code with an event). Its unique id becomes free again."""
    now = now or clock.now()
    require_unit_writer(actor)
    unit = _lock_unit(unit)
    _require_unit_in_reach(actor, unit)
    signals.unit_archived.send(sender=Unit, unit=unit, actor=actor, now=now)
    _move_unit_counters(account=unit.account, sign=-1, sensors=unit.sensors.count(),
                        commands=unit.commands.count(), actor=actor, now=now)
    grants_removed, _ = AccessGrant.objects.filter(unit=unit).delete()
    was_active = unit.active
    unit.archived_at = now
    if was_active:
        unit.active, unit.deactivated_at = False, now
    unit.deactivation_reason = DeactivationReason.ARCHIVED
    unit.save(update_fields=["archived_at", "active", "deactivated_at", "deactivation_reason"])
    _record(UnitAction.ARCHIVED, account=unit.account, unit=unit, actor=actor, now=now,
            details={"was_active": was_active, "grants_removed": grants_removed},
            before={"active": was_active, "archived": False},
            after={"active": False, "archived": True, **({"grants_removed": grants_removed} if grants_removed else {})})
    return unit


# --- monitoring users and grants ---------------------------------------------------------------------

@transaction.atomic
def create_monitoring_user(*, actor, account: Account, name: str, now: datetime | None = None) -> MonitoringUser:
    """A monitoring-platform user of ``account``; counted by the kernel's ``storage_user``."""
    now = now or clock.now()
    require_unit_writer(actor)
    _require_account_in_reach(actor, account)
    name = _clean_name(name, max_length=150)
    if MonitoringUser.objects.filter(service_id=account.service_id, name=name).exists():
        raise InvalidInput.field("name", gettext("A monitoring user with this name already exists in this service."))
    user = MonitoringUser(service_id=account.service_id, account=account, name=name)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise InvalidInput.field("name", gettext("A monitoring user with this name already exists in this service.")) from None
    _move_counter(account=account, service=MONITORING_USER_SERVICE, delta=1, actor=actor, now=now)
    _record(UnitAction.USER_CREATED, account=account, monitoring_user=user, actor=actor, now=now,
            details={"name": name}, after={"name": user.name, "account": account.name})
    return user


def _require_user_in_reach(actor, user: MonitoringUser):
    if not rights.in_reach(actor, user.account):
        raise NotFound(gettext("No such monitoring user."))


@transaction.atomic
def grant_access(*, actor, user: MonitoringUser, unit: Unit | None = None, account: Account | None = None,
                 now: datetime | None = None) -> AccessGrant:
    """Give a monitoring user access to one unit or to one account resource of its service.

    The target must be visible to the actor (else 400 ``does_not_exist`` on its field): an operator
    hands out only what it sees. The user's own account may be anywhere in the actor's scope.
    """
    now = now or clock.now()
    require_unit_writer(actor)
    _require_user_in_reach(actor, user)
    if (unit is None) == (account is None):
        raise InvalidInput(gettext("Give either a unit or an account."),
                           fields={"unit": [gettext("Give either a unit or an account, not both.")]})
    user = MonitoringUser.objects.select_for_update(of=("self",)).select_related("account").get(pk=user.pk)
    if unit is not None:
        if unit.archived_at is not None or unit.service_id != user.service_id or not rights.in_reach(
                actor, unit.account):
            raise DoesNotExist.field("unit")
        target, field, existing = unit, "unit", AccessGrant.objects.filter(user=user, unit=unit)
    else:
        if account.service_id != user.service_id or not rights.in_reach(actor, account):
            raise DoesNotExist.field("account")
        target, field, existing = account, "account", AccessGrant.objects.filter(user=user, account=account)
    if existing.exists():
        raise InvalidInput.field(field, gettext("This user already has access to it."))
    grant = AccessGrant.objects.create(user=user, **{field: target})
    _record(UnitAction.ACCESS_GRANTED, account=user.account, monitoring_user=user, actor=actor, now=now,
            unit=unit, details={"grant": grant.pk, field: target.pk, "name": str(target)}, grant=grant,
            after={"monitoring_user": user.name, field: str(target)})
    return grant


@transaction.atomic
def revoke_access(*, actor, grant: AccessGrant, now: datetime | None = None) -> None:
    now = now or clock.now()
    require_unit_writer(actor)
    try:
        grant = (AccessGrant.objects.select_for_update(of=("self",))
                 .select_related("user__account", "unit", "account").get(pk=grant.pk))
    except AccessGrant.DoesNotExist:
        raise NotFound(gettext("No such grant.")) from None
    _require_user_in_reach(actor, grant.user)
    target = grant.unit or grant.account
    field = "unit" if grant.unit_id else "account"
    _record(UnitAction.ACCESS_REVOKED, account=grant.user.account, monitoring_user=grant.user, actor=actor, now=now,
            unit=grant.unit, details={"grant": grant.pk, field: target.pk, "name": str(target)}, grant=grant,
            before={"monitoring_user": grant.user.name, field: str(target)})
    grant.delete()
