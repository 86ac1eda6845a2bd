"""The account tree, its operators, and the ledger that is the truth of every balance."""

import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from apps.core.guards import append_only

from apps.core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS


def money_field(**kwargs):
    return models.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs)


class BillingMethod(models.TextChoices):
    MONTHLY = "monthly", _("Monthly payment")
    ACTIVATION_CODES = "activation_codes", _("Activation codes")


class BlockedBy(models.TextChoices):
    NONE = "", "—"
    BALANCE = "balance", _("Balance")
    DAYS = "days", _("Days counter")
    MANUAL = "manual", _("Manual")


class Account(models.Model):
    """A resource in the dealer tree. A top account (no parent) *is* a service and holds its settings.

    ``path`` is the materialised chain of ids (``/1/7/42/``): the subtree of X is every account whose
    path starts with X's path, one indexed query at any depth.
    """

    name = models.CharField(verbose_name=_("name"), max_length=200)
    parent = models.ForeignKey("self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    service = models.ForeignKey(
        "self", verbose_name=_("service"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text=_("The top account of this tree (itself for a top account)."),
    )
    path = models.CharField(verbose_name=_("path"), max_length=512, db_index=True, editable=False)
    depth = models.PositiveSmallIntegerField(verbose_name=_("depth"), default=0, editable=False)
    plan = models.ForeignKey("plans.Plan", verbose_name=_("plan"), null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    sub_plans = models.ManyToManyField("plans.Plan", verbose_name=_("sub plans"), blank=True, related_name="dealers",
                                       help_text=_("Plans this dealer may hand out to its sub-accounts."))
    dealer_rights = models.BooleanField(verbose_name=_("dealer rights"), default=False)

    balance = money_field(verbose_name=_("balance"), default=0, editable=False)
    days = models.IntegerField(verbose_name=_("days"), default=0, editable=False)

    blocked = models.BooleanField(verbose_name=_("blocked"), default=False, editable=False)
    blocked_by = models.CharField(verbose_name=_("blocked by"), max_length=10, choices=BlockedBy.choices, blank=True, default="", editable=False)
    blocked_reason = models.CharField(verbose_name=_("blocked reason"), max_length=500, blank=True, default="", editable=False)
    blocked_at = models.DateTimeField(verbose_name=_("blocked at"), null=True, blank=True, editable=False)
    auto_block_suspended_until = models.DateTimeField(verbose_name=_("auto block suspended until"),
        null=True, blank=True, editable=False,
        help_text=_("After a manual unblock of an automatic block: no automatic blocking until then."),
    )

    # Overrides of the plan's flags and thresholds: null means "the plan's".
    block_by_balance = models.BooleanField(verbose_name=_("block by balance"), null=True, blank=True)
    block_balance = money_field(verbose_name=_("block balance"), null=True, blank=True)
    limit_by_balance = models.BooleanField(verbose_name=_("limit by balance"), null=True, blank=True)
    deny_balance = money_field(verbose_name=_("deny balance"), null=True, blank=True)
    block_by_days = models.BooleanField(verbose_name=_("block by days"), null=True, blank=True)
    min_days = models.IntegerField(verbose_name=_("min days"), null=True, blank=True)
    allow_unknown_services = models.BooleanField(verbose_name=_("allow unknown services"), null=True, blank=True)
    history_period_days = models.PositiveIntegerField(verbose_name=_("history period days"), null=True, blank=True)

    # Service settings: meaningful on top accounts only.
    timezone = models.CharField(verbose_name=_("timezone"), max_length=64, default="UTC")
    billing_method = models.CharField(verbose_name=_("billing method"), max_length=20, choices=BillingMethod.choices, default=BillingMethod.MONTHLY)
    basic_package_units = models.PositiveIntegerField(verbose_name=_("basic package units"), default=0)
    purchased_units = models.PositiveIntegerField(verbose_name=_("purchased units"), default=0)
    currency_format = models.CharField(verbose_name=_("currency format"), max_length=20, blank=True, default="",
                                       help_text=_("Empty: the plan's format. Holds %.02f once, e.g. '€%.02f'."))
    discount_enabled = models.BooleanField(verbose_name=_("discount enabled"), default=False)

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "service", name="account_name_unique_in_service"),
            models.CheckConstraint(condition=models.Q(parent__isnull=True) | ~models.Q(parent=models.F("id")),
                                   name="account_not_own_parent"),
        ]
        permissions = [
            ("make_payment", "Can make payments"),
            ("block_account", "Can block and unblock accounts"),
            ("change_service_settings", "Can change service settings"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_top(self) -> bool:
        return self.parent_id is None

    def ancestor_ids(self) -> list[int]:
        """Ids from the top account down to the parent (not self), read from the path."""
        return [int(p) for p in self.path.strip("/").split("/")[:-1]] if self.path else []

    def is_in_subtree_of(self, other: "Account") -> bool:
        return self.path.startswith(other.path)

    def is_strictly_below(self, other: "Account") -> bool:
        return self.path != other.path and self.path.startswith(other.path)


class Role(models.TextChoices):
    PLATFORM = "platform", _("Platform operator")
    TOP_USER = "top_user", _("Top user")
    DISTRIBUTOR = "distributor", _("Distributor")
    RESTRICTED_DISTRIBUTOR = "restricted_distributor", _("Restricted distributor")


# A top account's service settings (SPEC §8.1: the platform operator's to change; the currency format,
# which a top user may change too, is apart). The billing method changes only through its confirmed
# switch, so forms leave it out.
SERVICE_SETTING_FIELDS = ("timezone", "billing_method", "basic_package_units", "purchased_units", "discount_enabled")
SERVICE_FORM_FIELDS = tuple(name for name in SERVICE_SETTING_FIELDS if name != "billing_method")


class Language(models.TextChoices):
    """An operator's language (SPEC §9.3); empty follows the browser. Each is named in its own language,
    the same in every language, so a person finds theirs whatever the page's language."""

    BROWSER = "", _("The browser's language")
    ENGLISH = "en", "English"
    FRENCH = "fr", "Français"
    SPANISH = "es", "Español"


ROLE_RANK = {Role.RESTRICTED_DISTRIBUTOR: 0, Role.DISTRIBUTOR: 1, Role.TOP_USER: 2, Role.PLATFORM: 3}


class Operator(AbstractUser):
    """A login of this site, bound to one account (none for the platform operator)."""

    account = models.ForeignKey(Account, verbose_name=_("account"), null=True, blank=True, on_delete=models.PROTECT, related_name="operators")
    role = models.CharField(verbose_name=_("role"), max_length=30, choices=Role.choices, default=Role.PLATFORM)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, blank=True, default="",
                                help_text=_("The language of the operator's pages and API answers; empty follows the browser."))

    class Meta:
        verbose_name_plural = _("operators")
        verbose_name = _("operator")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(role="platform", account__isnull=True)
                           | (~models.Q(role="platform") & models.Q(account__isnull=False))),
                name="operator_role_matches_account",
            ),
        ]

    @property
    def is_platform(self) -> bool:
        return self.is_superuser or self.role == Role.PLATFORM


class OperatorToken(models.Model):
    """An API token. Only a hash is stored: the key is shown once, when it is created."""

    operator = models.OneToOneField(Operator, verbose_name=_("operator"), on_delete=models.CASCADE, related_name="api_token")
    key_hash = models.CharField(verbose_name=_("key hash"), max_length=64, unique=True)
    prefix = models.CharField(verbose_name=_("prefix"), max_length=8)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class LedgerKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    CHARGE = "charge", _("Charge")
    DAYS_ADDED = "days_added", _("Days added")
    DAYS_DECREMENTED = "days_decremented", _("Days decremented")
    ADJUSTMENT = "adjustment", _("Adjustment")


class LedgerEntry(models.Model):
    """One movement of money and/or days. The account's balance and days are the sums of these.

    A periodic service's window charge (``periodic``) is its own record: count (``quantity``),
    window and the cost table in force are on the row, and a unique key allows one per
    (account, service, window start): a window can never be charged twice.
    """

    # db_index=False: the (account, at, id) index below serves every query by account.
    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="ledger", db_index=False)
    kind = models.CharField(verbose_name=_("kind"), max_length=20, choices=LedgerKind.choices)
    amount = money_field(verbose_name=_("amount"), default=0)
    days = models.IntegerField(verbose_name=_("days"), default=0)
    service = models.CharField(verbose_name=_("service"), max_length=100, blank=True, default="")
    quantity = models.BigIntegerField(verbose_name=_("quantity"), null=True, blank=True)
    window_start = models.DateTimeField(verbose_name=_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(verbose_name=_("window end"), null=True, blank=True)
    periodic = models.BooleanField(verbose_name=_("periodic"), default=False, help_text=_("A periodic service's charge for one window."))
    cost_table = models.CharField(verbose_name=_("cost table"), max_length=2000, blank=True, default="",
                                  help_text=_("The cost table in force when the charge was priced."))
    first_position = models.BigIntegerField(verbose_name=_("first position"), null=True, blank=True,
                                            help_text=_("An on-demand charge: the first position of its window it priced."))
    description = models.CharField(verbose_name=_("description"), max_length=500)
    # Indexed only where set (below): the job's rows have no actor.
    actor = models.ForeignKey(Operator, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False)
    actor_name = models.CharField(verbose_name=_("actor name"), max_length=150, default="system")
    at = models.DateTimeField(verbose_name=_("at"), db_index=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["account", "-at", "-id"], name="ledger_account_at"),
            models.Index(fields=["actor"], condition=models.Q(actor__isnull=False), name="ledger_actor"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "service", "window_start"], condition=models.Q(periodic=True),
                                    name="ledger_one_charge_per_window"),
            models.CheckConstraint(
                condition=models.Q(periodic=False) | models.Q(kind="charge", window_start__isnull=False,
                                                              window_end__isnull=False),
                name="ledger_periodic_is_a_window_charge"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} / {self.days} d"


class IdempotencyKey(models.Model):
    """The first answer to a request carrying a key; replayed for every repeat (SPEC §8.3)."""

    # No index of its own: the unique key leads with the account.
    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(verbose_name=_("key"), max_length=255)
    fingerprint = models.CharField(verbose_name=_("fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(verbose_name=_("status code"))
    body = models.JSONField(verbose_name=_("body"))
    created_at = models.DateTimeField(verbose_name=_("created at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="idempotency_key_unique_per_account")]


class AuditQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused: the trail is written once and kept."""

    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only: events cannot be changed.")

    def delete(self):
        raise PermissionError("The audit trail is append-only: events cannot be deleted.")


class AuditChain(models.Model):
    """The head of one chain of the audit trail: a service's (``chain`` = its top account's id) or the
    platform's (``chain`` = 0). Writers lock this row (``INSERT … ON CONFLICT DO UPDATE``) until they commit,
    so the events of one chain get consecutive ``seq`` numbers and each hashes over its predecessor."""

    chain = models.BigIntegerField(verbose_name=_("chain"), primary_key=True)
    seq = models.BigIntegerField(verbose_name=_("seq"), default=0)
    last_hash = models.CharField(verbose_name=_("last hash"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("audit chain")
        verbose_name_plural = _("audit chains")


class AuditEvent(models.Model):
    """One write, recorded by the operation that made it in the same transaction (SPEC §9.2).

    Ids and name snapshots, no foreign keys: nothing cascades into the trail and names read as they were.
    ``account_path`` is the path of the account the write touches (the scoping rule filters on it).
    ``hash`` is SHA-256 over the event's content and the previous event's hash in the same chain
    (``apps.accounts.audit``); ``manage.py verify_audit`` walks the chains.
    """

    chain = models.BigIntegerField(_("chain"))
    seq = models.BigIntegerField(_("sequence"))
    at = models.DateTimeField(_("time"))
    action = models.CharField(_("action"), max_length=40)
    service_id = models.BigIntegerField(_("service"), null=True, blank=True)
    account_id = models.BigIntegerField(_("account id"), null=True, blank=True)
    account_name = models.CharField(_("account"), max_length=200, blank=True, default="")
    account_path = models.CharField(verbose_name=_("account path"), max_length=512, blank=True, default="")
    subject_type = models.CharField(_("subject type"), max_length=30)
    subject_id = models.BigIntegerField(_("subject id"), null=True, blank=True)
    subject_name = models.CharField(_("subject"), max_length=200, blank=True, default="")
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_name = models.CharField(_("actor"), max_length=150)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True, default="")
    hash = models.CharField(verbose_name=_("hash"), max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit log")
        default_permissions = ("view",)
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq")]
        indexes = [
            # The Audit log's first page: newest first, scoped by service or path, one filter at a time. The
            # scope's columns ride along (``INCLUDE``), so the capped count of a date range or an action
            # reads the index alone (no heap row per event to check a top user's or distributor's path).
            models.Index(fields=["-at", "-id"], name="audit_at_scope", include=["service_id", "account_path"]),
            models.Index(fields=["service_id", "-at", "-id"], name="audit_service_at"),
            models.Index(fields=["action", "-at", "-id"], name="audit_action_scope_at",
                         include=["service_id", "account_path"]),
            # The actor filter: the scope's columns ride along, so its capped count reads the index alone
            # (no heap row per event to check the service or the path). Jobs' events (no actor) stay out.
            models.Index(fields=["actor_id", "-at", "-id"], name="audit_actor_scope_at",
                         include=["service_id", "account_path"], condition=models.Q(actor_id__isnull=False)),
            models.Index(fields=["subject_type", "subject_id", "-at", "-id"], name="audit_subject_at"),
            # A subtree (``account_path LIKE '/1/7/%'``): a prefix range on PostgreSQL, with the time along so
            # the subtree's capped count in a date range reads the index alone.
            models.Index(fields=["account_path"], name="audit_path_at", opclasses=["varchar_pattern_ops"],
                         include=["at"]),
        ]
        triggers = append_only("audit_event_append_only")

    def __str__(self):
        return f"{self.action} {self.subject_name}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("The audit trail is append-only: events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only: events cannot be deleted.")
