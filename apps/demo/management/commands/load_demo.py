"""Demo data for ``make run``, and benchmark-sized data for ``bench/``.

Without sizes it builds one small, realistic service through the operations (the same paths the
admin and the API use) and prints the demo logins; running it again changes nothing.
With ``--accounts N --units M`` it also builds a service "Bench N×M" with bulk inserts (one
statement per table and batch), for benchmarks: 100,000 units load in well under 2 minutes on
PostgreSQL.
"""

import random
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.contrib.auth.password_validation import validate_password
from django.db import connection, transaction
from django.db.models import Count

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, Operator, Role
from apps.codes import operations as code_ops
from apps.core.seeds import ensure_seeds
from apps.plans import operations as plan_ops
from apps.plans.models import DeviceType, Plan, PlanService
from apps.services import operations as kernel_ops
from apps.services.models import ObjectCounter
from apps.units import operations as unit_ops
from apps.units.models import Unit

DEMO_SERVICE = "Demo Telematics"
PASSWORDS = {
    "admin": ("Platform operator", "admin-demo-2026"),
    "top": ("Top user of Demo Telematics", "top-demo-2026"),
    "north": ("Distributor North (codes window)", "north-demo-2026"),
    "south": ("Distributor South (codes window)", "south-demo-2026"),
    "north_apply": ("Restricted distributor on North (Apply a code only)", "apply-demo-2026"),
}
SENSOR_SETS = [
    [("Ignition", "ignition"), ("Mileage", "mileage")],
    [("Fuel level", "fuel_level"), ("Ignition", "ignition"), ("Voltage", "voltage")],
    [("Engine hours", "engine_hours")],
    [],
]


class Command(BaseCommand):
    help = "Load the demo service and logins (idempotent); with --accounts/--units also a benchmark service."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=0, help="benchmark service: number of accounts")
        parser.add_argument("--units", type=int, default=0, help="benchmark service: number of units")
        parser.add_argument("--dealers", type=int, default=0, help="benchmark service: dealers (default accounts/100)")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **opts):
        ensure_seeds()
        if Account.objects.filter(parent__isnull=True, name=DEMO_SERVICE).exists():
            self.stdout.write("Demo data already loaded; nothing changed.")
        else:
            with transaction.atomic():
                self._load_demo(random.Random(opts["seed"]))
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        if opts["accounts"] or opts["units"]:
            if opts["accounts"] < 1 or opts["units"] < 0:
                raise CommandError("--accounts must be at least 1 and --units at least 0.")
            self._load_bench(opts["accounts"], opts["units"], opts["dealers"] or max(1, opts["accounts"] // 100),
                             random.Random(opts["seed"]))
        self._print_logins()

    # --- the small demo, through the operations ------------------------------------------------------

    def _load_demo(self, rnd: random.Random):
        admin = Operator.objects.filter(username="admin").first()
        if admin is None:  # create_superuser skips the password rules the other logins go through
            validate_password(PASSWORDS["admin"][1], Operator(username="admin", email="admin@example.com"))
            admin = Operator.objects.create_superuser("admin", "admin@example.com", PASSWORDS["admin"][1])
        service = account_ops.create_account(actor=admin, name=DEMO_SERVICE, parent=None, service_settings={
            "timezone": "Europe/Berlin", "basic_package_units": 10, "purchased_units": 40,
            "discount_enabled": True})
        standard = plan_ops.create_plan(actor=admin, service=service, values={
            "name": "Standard", "description": "End-user fleets", "history_period_days": 400,
            "block_by_balance": True, "block_balance": Decimal("-50"), "limit_by_balance": True,
            "deny_balance": Decimal("-20"), "currency_format": "€%.02f", "email": "billing@demo.example"})
        dealer = plan_ops.create_plan(actor=admin, service=service, values={
            "name": "Dealer", "parent": standard, "description": "Distributors", "block_balance": Decimal("-500")})
        for plan, rows in ((standard, [
            ("avl_unit", "periodic", "monthly", "100:1.5;-1"),
            ("sms", "on_demand", "daily", "10:0;100:0.05;-1"),
            ("zones_library", "periodic", "monthly", "50:0;0.1"),
            ("drivers", "periodic", "none", "20:0;-1"),
            ("notifications", "periodic", "none", ""),
            ("unit_sensors", "periodic", "none", ""),
            ("unit_alias", "periodic", "none", ""),
            ("storage_user", "periodic", "none", ""),
            ("avl_resource", "periodic", "none", ""),
        ]), (dealer, [("avl_unit", "periodic", "monthly", "1000:1.2"), ("sms", "on_demand", "daily", "0.04")])):
            for name, type_, interval, table in rows:
                plan_ops.add_plan_service(actor=admin, plan=plan, values={
                    "name": name, "type": type_, "interval": interval, "cost_table": table})
        account_ops.update_account(actor=admin, account=service, changes={"plan": dealer})
        top = account_ops.create_operator(actor=admin, username="top", password=PASSWORDS["top"][1],
                                          email="top@demo.example", account=service, role=Role.TOP_USER)
        north = account_ops.create_account(actor=top, name="North", parent=service, plan=dealer, dealer_rights=True,
                                           sub_plans=[standard], payment={"amount": 500, "days": 60})
        south = account_ops.create_account(actor=top, name="South", parent=service, plan=dealer, dealer_rights=True,
                                           sub_plans=[standard], payment={"amount": 300, "days": 60})
        north_east = account_ops.create_account(actor=top, name="North-East", parent=north, plan=dealer,
                                                dealer_rights=True, sub_plans=[standard],
                                                payment={"amount": 200, "days": 60})
        for username, account, role in (("north", north, Role.DISTRIBUTOR), ("south", south, Role.DISTRIBUTOR),
                                        ("north_apply", north, Role.RESTRICTED_DISTRIBUTOR)):
            account_ops.create_operator(actor=top, username=username, password=PASSWORDS[username][1],
                                        email=f"{username}@demo.example", account=account, role=role)
        clients = []
        for name, parent in (("North Logistics", north), ("North Taxi", north), ("NE Farms", north_east),
                             ("South Couriers", south), ("South Rentals", south)):
            clients.append(account_ops.create_account(actor=top, name=name, parent=parent, plan=standard,
                                                      payment={"amount": 100, "days": 30}))
        device_types = [DeviceType.objects.get_or_create(name=n)[0] for n in ("Teltonika FMB920", "Queclink GV300",
                                                                                "Concox GT06N")]
        units = []
        for client in clients:
            for i in range(1, 7):
                sensors = rnd.choice(SENSOR_SETS)
                units.append(unit_ops.create_unit(
                    actor=top, account=client, name=f"{client.name.split()[-1]} {i:02d}",
                    unique_id=f"35{rnd.randrange(10**12, 10**13)}", device_type=rnd.choice(device_types),
                    sensors=[{"name": n, "type": t} for n, t in sensors],
                    commands=[{"name": "Block engine"}] if i % 3 == 0 else [],
                    eco_driving=i % 2 == 0, eco_criteria=["acceleration", "braking"] if i % 2 == 0 else []))
            user = unit_ops.create_monitoring_user(actor=top, account=client, name=f"{client.name} dispatcher")
            for unit in units[-3:]:
                unit_ops.grant_access(actor=top, user=user, unit=unit)
        for client in clients[:3]:
            kernel_ops.move_objects(account=client, service="zones_library", delta=rnd.randint(3, 12), actor=top)
            kernel_ops.move_objects(account=client, service="drivers", delta=rnd.randint(1, 6), actor=top)
            for n in range(rnd.randint(2, 6)):
                kernel_ops.consume_service(account=client, service="sms", quantity=1, actor=top,
                                           idempotency_key=f"demo-sms-{client.pk}-{n}")
        # Billing by activation codes: units without a code stop; codes bring most of them back.
        code_ops.switch_billing_method(actor=admin, service=service, method="activation_codes", confirm=True)
        year = code_ops.generate_codes(actor=top, service=service, quantity=24, validity_days=365)
        month = code_ops.generate_codes(actor=top, service=service, quantity=12, validity_days=30)
        for code in month[:8]:
            code_ops.share_code(actor=top, code=code, account=north)
        north_op = Operator.objects.get(username="north")
        for code, unit in zip(year, units[0:10] + units[18:26]):
            code_ops.assign_code(actor=top, code=code, unit=unit)
        for code, unit in zip(month[:4], units[12:16]):  # North's shared codes on North-East's units
            code_ops.assign_code(actor=north_op, code=code, unit=unit)

    # --- benchmark-sized data, set-based -------------------------------------------------------------

    def _load_bench(self, n_accounts: int, n_units: int, n_dealers: int, rnd: random.Random):
        name = f"Bench {n_accounts}x{n_units}"
        if Account.objects.filter(parent__isnull=True, name=name).exists():
            self.stdout.write(f"{name} already loaded; nothing changed.")
            return
        started = time.monotonic()
        admin = Operator.objects.filter(is_superuser=True).first()
        service = account_ops.create_account(actor=admin, name=name, parent=None,
                                             service_settings={"timezone": "Europe/Berlin", "discount_enabled": True})
        plan = Plan.objects.create(service=service, name="Bench plan", history_period_days=400)
        PlanService.objects.bulk_create([
            PlanService(plan=plan, name="avl_unit", type="periodic", interval="monthly", cost_table="1000000:1"),
            PlanService(plan=plan, name="sms", type="on_demand", interval="daily", cost_table="0.05"),
            PlanService(plan=plan, name="zones_library", type="periodic", interval="monthly", cost_table="10:0;0.1"),
            *[PlanService(plan=plan, name=n, type="periodic", interval="none", cost_table="")
              for n in ("unit_sensors", "unit_alias", "storage_user", "avl_resource")],
        ])
        Account.objects.filter(pk=service.pk).update(plan=plan)
        n_dealers = min(n_dealers, n_accounts)
        with transaction.atomic():
            dealers = Account.objects.bulk_create([
                Account(name=f"Dealer {i:05d}", parent=service, service=service, depth=1, plan=plan,
                        dealer_rights=True, path="") for i in range(n_dealers)], batch_size=5000)
            clients = Account.objects.bulk_create([
                Account(name=f"Client {i:06d}", parent=dealers[i % n_dealers], service=service, depth=2, plan=plan,
                        path="") for i in range(n_accounts - n_dealers)], batch_size=5000)
            for acc in dealers:
                acc.path = f"{service.path}{acc.pk}/"
            by_id = {d.pk: d for d in dealers}
            for acc in clients:
                acc.path = f"{by_id[acc.parent_id].path}{acc.pk}/"
            Account.objects.bulk_update(dealers + clients, ["path"], batch_size=5000)
            holders = clients or dealers
            Unit.objects.bulk_create([
                Unit(service=service, account=holders[i % len(holders)], name=f"Unit {i:07d}",
                     unique_id=f"B{service.pk}-{i:09d}", eco_driving=rnd.random() < 0.3)
                for i in range(n_units)], batch_size=10000)
            # The kernel's object counters for the inserted units (own count, and every ancestor's subtree).
            own = dict(Unit.objects.filter(service=service).values_list("account").annotate(n=Count("id")))
            subtree: dict[int, int] = {}
            paths = dict(Account.objects.filter(service=service).values_list("pk", "path"))
            for account_id, n in own.items():
                for ancestor in paths[account_id].strip("/").split("/"):
                    subtree[int(ancestor)] = subtree.get(int(ancestor), 0) + n
            # avl_resource: each account counts its children; ancestors their whole subtree.
            children = dict(Account.objects.filter(service=service).exclude(pk=service.pk)
                            .values_list("parent").annotate(n=Count("id")))
            ObjectCounter.objects.bulk_create([
                *[ObjectCounter(account_id=a, service="avl_unit", own=own.get(a, 0), subtree=s)
                  for a, s in subtree.items()],
                *[ObjectCounter(account_id=a, service="avl_resource", own=n,
                                subtree=n_accounts if a == service.pk else n) for a, n in children.items()],
            ], batch_size=10000)
        self.stdout.write(self.style.SUCCESS(
            f"{name}: {n_accounts} accounts, {n_units} units in {time.monotonic() - started:.1f} s "
            f"on {connection.vendor}."))

    def _print_logins(self):
        self.stdout.write("\nDemo logins (http://127.0.0.1:8000/admin/):")
        for username, (who, password) in PASSWORDS.items():
            self.stdout.write(f"  {who:<55} {username:<12} {password}")
