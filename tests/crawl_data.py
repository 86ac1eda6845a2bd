"""The crawl's world (tests/test_crawl.py): two services and two branches with distinctive names.

Every object of service "Acme" is named ``ZzAcme…`` (North's branch ``ZzNorth…``, South's branch
``ZzSouthBranch…``), every object of the second service ``ZzOtherSvc…``, so a response body can be
searched for the names its viewer must not see. Codes carry random texts: they are markers too.

``objects[kind][zone]`` is the primary key (or code text, or name) of one object of each kind in each
zone: ``north`` (North's branch), ``south`` (South's branch), ``other`` (the second service).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask,
                                       SolarSchedule)

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, AuditEvent, LedgerEntry, Role
from apps.codes import operations as code_ops
from apps.codes.models import CodeEvent, CodeGenerationJob, NoticeDelivery
from apps.core import clock
from apps.core.seeds import ensure_seeds
from apps.discounts.models import DiscountSnapshot
from apps.discounts.tables import compute_table, store_daily_table
from apps.discounts.rules import OBJECT_SERVICES
from apps.plans import operations as plan_ops
from apps.plans.models import AccountServiceOverride, PlanEvent, PlanImportJob, PlanService
from apps.units import operations as unit_ops
from apps.plans.models import DeviceType, Modem
from apps.units.models import UnitEvent
from apps.services import ledger
from tests import factories

FREE = ("avl_unit", "avl_resource", "storage_user", "unit_sensors", "unit_alias", *OBJECT_SERVICES)

ROLES = ("anon", "platform", "top", "distributor", "restricted", "other")
ZONES = ("north", "south", "other")
# The zone of the object "in scope" and "out of scope" for each role (the platform operator sees both).
IN_ZONE = {"anon": "north", "platform": "north", "top": "north", "distributor": "north", "restricted": "north",
           "other": "other"}
OUT_ZONE = {"anon": "other", "platform": "other", "top": "other", "distributor": "south", "restricted": "south",
            "other": "north"}
ACME, NORTH, SOUTH, OTHER = "ZzAcme", "ZzNorth", "ZzSouthBranch", "ZzOtherSvc"


@dataclass
class CrawlWorld:
    actors: dict  # role → Operator (None for anon)
    objects: dict = field(default_factory=dict)  # kind → {zone: pk}
    codes: dict = field(default_factory=dict)  # zone → code text

    def forbidden(self, role: str) -> list[str]:
        """The markers a role must never read: names of the branches and services outside its scope."""
        acme_codes = [self.codes["north"], self.codes["south"], self.codes["acme"]]
        return {
            "anon": [ACME, NORTH, SOUTH, OTHER, *acme_codes, self.codes["other"]],
            "platform": [],
            "top": [OTHER, self.codes["other"]],
            "distributor": [SOUTH, OTHER, self.codes["south"], self.codes["acme"], self.codes["other"]],
            "restricted": [SOUTH, OTHER, self.codes["south"], self.codes["acme"], self.codes["other"]],
            "other": [ACME, NORTH, SOUTH, *acme_codes],
        }[role]


def _service(platform, name):
    service = factories.top_account(name=f"{name}Svc" if name != ACME else f"{ACME}Telematics", actor=platform,
                                    timezone="Europe/Berlin")
    root = factories.plan(service, name=f"{name}RootPlan")
    PlanService.objects.bulk_create([PlanService(plan=root, name=n, type="periodic", interval="none", cost_table="")
                                     for n in FREE])
    account_ops.update_account(actor=platform, account=service, changes={"plan": root, "discount_enabled": True})
    service.refresh_from_db()
    code_ops.switch_billing_method(actor=platform, service=service, method="activation_codes", confirm=True)
    service.refresh_from_db()
    return service, root


def _branch_objects(w: CrawlWorld, zone: str, *, prefix: str, actor, client, payer, service, notice_op):
    """A unit, a monitoring user with a grant, a payment, an override, a notice with a delivery."""
    now = clock.now()
    unit = unit_ops.create_unit(actor=actor, account=client, name=f"{prefix}Truck", unique_id=f"IMEI{prefix}")
    user = unit_ops.create_monitoring_user(actor=actor, account=client, name=f"{prefix}MonUser")
    grant = unit_ops.grant_access(actor=actor, user=user, unit=unit)
    code = code_ops.generate_codes(actor=payer, service=service, quantity=1, validity_days=30,
                                   shared_with=client.parent if client.parent.parent_id else None)[0]
    code_ops.assign_code(actor=payer, code=code, unit=unit)
    ledger.record_payment(actor=payer, account=client, amount=Decimal("10"), description=f"{prefix}Payment")
    override = AccountServiceOverride.objects.create(account=client, name="sms", type="on_demand",
                                                     cost_table="0:1;-1")
    notice = code_ops.create_notice(actor=notice_op, name=f"{prefix}Notice", text=f"{prefix}NoticeText",
                                    days_before=40, recipients=[notice_op])
    delivery = NoticeDelivery.objects.create(notice=notice, recipient=notice_op, code=code, created_at=now)
    job = PlanImportJob.objects.create(actor=actor, service=service, mode="update", file_name=f"{prefix}Import.csv",
                                       file_format=0, tmp_name=f"{prefix}tmp", state=PlanImportJob.State.DONE,
                                       total_rows=1, checked_rows=1, result={"updated": 1}, created_at=now,
                                       finished_at=now)
    generation = CodeGenerationJob.objects.create(actor=payer, service=service, quantity=1, validity_days=30,
                                                  state=CodeGenerationJob.State.DONE, done=1, created_at=now,
                                                  finished_at=now)
    w.codes[zone] = code.code
    for kind, pk in (("account", client.pk), ("unit", unit.pk), ("monitoringuser", user.pk), ("grant", grant.pk),
                     ("activationcode", code.pk), ("code", code.code), ("expirynotice", notice.pk),
                     ("delivery", delivery.pk), ("override", override.name), ("planimportjob", job.pk),
                     ("codegenerationjob", generation.pk),
                     ("ledgerentry", LedgerEntry.objects.filter(account=client).latest("pk").pk),
                     ("codeevent", CodeEvent.objects.filter(code_id=code.pk).latest("pk").pk),
                     ("unitevent", UnitEvent.objects.filter(unit_id_snapshot=unit.pk).latest("pk").pk),
                     ("auditevent", AuditEvent.objects.filter(account_id=client.pk).latest("pk").pk)):
        w.objects.setdefault(kind, {})[zone] = pk


def build() -> CrawlWorld:
    ensure_seeds()
    platform = factories.platform_operator("ZzRootOperator")
    acme, acme_root = _service(platform, ACME)
    top = factories.operator(acme, Role.TOP_USER, username="ZzAcmeTop")
    base = plan_ops.create_plan(actor=top, service=acme, values={"name": f"{ACME}Base", "parent": acme_root})
    dealer = plan_ops.create_plan(actor=top, service=acme, values={"name": f"{ACME}Dealer", "parent": base})
    north_sub = plan_ops.create_plan(actor=top, service=acme, values={"name": f"{NORTH}SubPlan", "parent": dealer})
    south_sub = plan_ops.create_plan(actor=top, service=acme, values={"name": f"{SOUTH}SubPlan", "parent": dealer})
    north = factories.account(acme, name=f"{NORTH}Dealer", plan_=dealer, dealer_rights=True, actor=platform,
                              payment={"amount": "100", "description": f"{NORTH}Opening"})
    south = factories.account(acme, name=f"{SOUTH}Dealer", plan_=dealer, dealer_rights=True, actor=platform,
                              payment={"amount": "100", "description": f"{SOUTH}Opening"})
    north.sub_plans.set([north_sub])
    south.sub_plans.set([south_sub])
    north_east = factories.account(north, name=f"{NORTH}EastDealer", plan_=dealer, dealer_rights=True,
                                   actor=platform)
    north_client = factories.account(north, name=f"{NORTH}Client", plan_=north_sub, actor=platform)
    south_client = factories.account(south, name=f"{SOUTH}Client", plan_=south_sub, actor=platform)
    factories.account(north_east, name=f"{NORTH}EastClient", plan_=dealer, actor=platform)

    other, other_root = _service(platform, OTHER)
    other_top = factories.operator(other, Role.TOP_USER, username="ZzOtherSvcTop")
    other_plan = plan_ops.create_plan(actor=other_top, service=other,
                                      values={"name": f"{OTHER}Plan", "parent": other_root})
    other_dealer = factories.account(other, name=f"{OTHER}Dealer", plan_=other_plan, dealer_rights=True,
                                     actor=platform)
    other_client = factories.account(other_dealer, name=f"{OTHER}Client", plan_=other_plan, actor=platform)

    north_op = factories.operator(north, Role.DISTRIBUTOR, username="ZzNorthOp")
    south_op = factories.operator(south, Role.DISTRIBUTOR, username="ZzSouthBranchOp")
    other_op = factories.operator(other_dealer, Role.DISTRIBUTOR, username="ZzOtherSvcOp")
    restricted = factories.operator(north, Role.RESTRICTED_DISTRIBUTOR, username="ZzNorthRestricted")
    factories.operator(south, Role.RESTRICTED_DISTRIBUTOR, username="ZzSouthBranchRestricted")
    for operator in (top, other_top, north_op, south_op):
        account_ops.rotate_token(actor=platform, operator=operator)

    w = CrawlWorld(actors={"anon": None, "platform": platform, "top": top, "distributor": north_op,
                           "restricted": restricted, "other": other_top})
    _branch_objects(w, "north", prefix=NORTH, actor=top, client=north_client, payer=top, service=acme,
                    notice_op=north_op)
    _branch_objects(w, "south", prefix=SOUTH, actor=top, client=south_client, payer=top, service=acme,
                    notice_op=south_op)
    _branch_objects(w, "other", prefix=OTHER, actor=other_top, client=other_client, payer=other_top,
                    service=other, notice_op=other_top)
    w.codes["acme"] = code_ops.generate_codes(actor=top, service=acme, quantity=1, validity_days=30)[0].code

    apps = {"acme": plan_ops.add_app_service(actor=top, service=acme, name=f"{ACME}App"),
            "other": plan_ops.add_app_service(actor=other_top, service=other, name=f"{OTHER}App")}
    today = date.today()
    for service in (acme, other):
        for back in (1, 2):
            DiscountSnapshot.objects.create(service=service, day=today - timedelta(days=back), current=10,
                                            maximum=20, applied=10, purchased=5, in_use=3, unused=2, full_cost=100,
                                            taken_at=clock.now())
        # The accounts and units table the daily job keeps with the day (the module page and its lists read it).
        store_daily_table(service, today - timedelta(days=1), compute_table(service), clock.now())

    def per_zone(north_value, south_value, other_value):
        return {"north": north_value, "south": south_value, "other": other_value}

    sms_row = {p: PlanService.objects.create(plan=p, name="sms", type="on_demand", cost_table="0:1;-1")
               for p in (north_sub, south_sub, other_plan)}
    snap = {s.pk: DiscountSnapshot.objects.filter(service=s).latest("pk").pk for s in (acme, other)}
    w.objects.update({
        "dealer": per_zone(north.pk, south.pk, other_dealer.pk),
        "operator": per_zone(north_op.pk, south_op.pk, other_op.pk),
        "plan": per_zone(north_sub.pk, south_sub.pk, other_plan.pk),
        "planservice": per_zone(sms_row[north_sub].pk, sms_row[south_sub].pk, sms_row[other_plan].pk),
        "planevent": per_zone(*(PlanEvent.objects.filter(plan_id_snapshot=p.pk).latest("pk").pk
                                for p in (north_sub, south_sub, other_plan))),
        "catalogueservice": per_zone(apps["acme"].pk, apps["acme"].pk, apps["other"].pk),
        "discountmodule": per_zone(snap[acme.pk], snap[acme.pk], snap[other.pk]),
        "service": per_zone(acme.pk, acme.pk, other.pk),
    })
    # Objects outside any service: the same object whatever the zone.
    device_type = DeviceType.objects.create(name="ZzCrawlTracker")
    modem = Modem.objects.create(name="ZzCrawlModem")
    shared = {
        "devicetype": device_type.pk, "modem": modem.pk, "group": Group.objects.order_by("pk").first().pk,
        "periodictask": PeriodicTask.objects.order_by("pk").first().pk,
        "crontabschedule": CrontabSchedule.objects.get_or_create(minute="7", hour="3")[0].pk,
        "intervalschedule": IntervalSchedule.objects.get_or_create(every=10, period="minutes")[0].pk,
        "clockedschedule": ClockedSchedule.objects.create(clocked_time=clock.now()).pk,
        "solarschedule": SolarSchedule.objects.get_or_create(event="sunrise", latitude=50, longitude=8)[0].pk,
        "content_type": ContentType.objects.get_for_model(Account).pk,
        # django-axes' sign-in records (the platform operator's to read): one of each.
        "accessattempt": AccessAttempt.objects.create(
            username="crawl-signin", ip_address="127.0.0.9", user_agent="crawl", http_accept="text/html",
            path_info="/admin/login/", get_data="", post_data="", failures_since_start=1).pk,
        "accesslog": AccessLog.objects.create(username="crawl-signin", ip_address="127.0.0.9", user_agent="crawl",
                                              http_accept="text/html", path_info="/admin/login/").pk,
        "accessfailurelog": AccessFailureLog.objects.create(
            username="crawl-signin", ip_address="127.0.0.9", user_agent="crawl", http_accept="text/html",
            path_info="/admin/login/").pk,
    }
    for kind, pk in shared.items():
        w.objects[kind] = per_zone(pk, pk, pk)
    return w
