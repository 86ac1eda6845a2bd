"""The kernel's resolution as it was at an instant (SPEC §9.8 "Replay"): the same rule
(``resolution._resolve``) over the versions of plan rows, overrides and account plans in force
then (``apps.plans.history``). Used by the replay and by the charge job when it catches up windows
that ended before a version changed."""

from datetime import datetime

from django.db.models import Q

from apps.accounts.models import Account
from apps.plans.history import Versions
from apps.plans.models import AccountPlanVersion, AccountServiceVersion, Plan, PlanServiceVersion, ResetInterval

from .resolution import Resolution, ServiceRow, _resolve


def last_change_after(service_id: int, since: datetime) -> datetime | None:
    """The latest instant after ``since`` at which a version of the service took effect or ended
    (None: nothing changed since, today's resolution is the one in force). Three small reads."""
    latest = None
    for versions in (PlanServiceVersion.objects.filter(plan__service_id=service_id),
                     AccountServiceVersion.objects.filter(account__service_id=service_id),
                     AccountPlanVersion.objects.filter(account__service_id=service_id)):
        for start, end in versions.filter(Q(valid_from__gt=since) | Q(valid_until__gt=since)).values_list(
                "valid_from", "valid_until"):
            for at in (start, end):
                if at is not None and at > since and (latest is None or at > latest):
                    latest = at
    return latest


class ResolverAsOf:
    """The kernel's resolution of (account, name) at an instant, from the versions in force then;
    memoised on everything it depends on."""

    def __init__(self, service: Account, versions: Versions, catalogue: dict[str, str]):
        self.service, self.versions, self.catalogue = service, versions, catalogue
        self.plans = {p.pk: p for p in Plan.objects.filter(service=service).only("id", "name", "parent_id")}
        for plan in self.plans.values():
            plan.parent = self.plans.get(plan.parent_id)
        self._memo: dict = {}
        self._spans: dict = {}

    def chain(self, plan_id):
        out, seen, plan = [], set(), self.plans.get(plan_id)
        while plan is not None and plan.pk not in seen:
            seen.add(plan.pk)
            out.append(plan)
            plan = plan.parent
        return out

    def at(self, account_id: int, name: str, when: datetime) -> Resolution | None:
        """The resolution when it gives the account a table (it pays), else None. Each (account,
        name) keeps the span over which its last answer holds: a month of windows under unchanged
        plans costs one resolution, not one per window."""
        held = self._spans.get((account_id, name))
        if held is not None and (held[1] is None or held[1] <= when) and (held[2] is None or when < held[2]):
            return held[0]
        since, until = None, None

        def look(timeline, default=None):
            nonlocal since, until
            if timeline is None:
                return default
            value, low, high = timeline.span(when)
            if low is not None and (since is None or low > since):
                since = low
            if high is not None and (until is None or high < until):
                until = high
            return value

        versions = self.versions
        if look(versions.account_plans.get(self.service.pk)) is None:
            resolution = None  # the top account had no plan: everything denied (no_plan)
        else:
            plan_id = look(versions.account_plans.get(account_id))
            override = look(versions.overrides.get((account_id, name)))
            rows = tuple((p.pk, look(versions.plan_rows.get((p.pk, name)))) for p in self.chain(plan_id))
            resolution = self._resolved(account_id, name, plan_id, override, rows)
        self._spans[(account_id, name)] = (resolution, since, until)
        return resolution

    def _resolved(self, account_id, name, plan_id, override, rows) -> Resolution | None:
        key = (plan_id, name, override, rows)
        if key not in self._memo:
            rows_by_plan = {pk: ServiceRow(*row) for pk, row in rows if row is not None}
            if override is None and not rows_by_plan:
                self._memo[key] = None  # unknown: neither pays nor limits
            else:
                account = Account(pk=account_id, plan_id=plan_id)
                account.plan = self.plans.get(plan_id)
                self._memo[key] = _resolve(account, name, catalogue_type=self.catalogue.get(name),
                                           override=ServiceRow(*override) if override else None,
                                           rows_by_plan=rows_by_plan, no_plan=False)
        return self._memo[key]

    def intervals(self, account_id: int, name: str) -> set[str]:
        """Every interval a row of the account's plans or override ever had for ``name``."""
        found = set()
        timeline = self.versions.overrides.get((account_id, name))
        if timeline:
            found |= {v.value[1] for v in timeline.versions}
        plans = self.versions.account_plans.get(account_id)
        for plan_id in {v.value for v in plans.versions} if plans else ():
            for plan in self.chain(plan_id):
                timeline = self.versions.plan_rows.get((plan.pk, name))
                if timeline:
                    found |= {v.value[1] for v in timeline.versions}
        return found - {ResetInterval.NONE}
