"""Activation codes, their append-only event log, and expiry notices (SPEC §4, §8.5).

A code's *stored* status (``new`` / ``active`` / ``expired``) is set under a row lock by the
operations and the expiry sweep. Reads derive the state at an instant with ``state(at=...)``, so a
code whose time is up reads as expired even before the sweep reaches it.
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.guards import append_only

DAY = timedelta(hours=24)
VALIDITY_PRESETS = (30, 90, 180, 365, 730)
MAX_VALIDITY_DAYS = 3650
MAX_BATCH = 100_000


def branch_of(path: str) -> int | None:
    """The id of the account one level below the top on a materialised path (``/1/7/42/`` → 7);
    None for the top itself."""
    ids = path.strip("/").split("/")
    return int(ids[1]) if len(ids) > 1 else None


class CodeStatus(models.TextChoices):
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    # Waiting on ``queued_on`` for its live code to end (SPEC §9.5); its clock is planned, not running.
    QUEUED = "queued", _("Queued")


class ActivationCode(models.Model):
    """One code of a service: 32 lowercase hex characters, a validity in days, at most one unit.

    ``holder_path`` is the materialised path of the holder (``shared_with``, or the service's top
    account when not shared) and ``holder_branch`` the id of its first account below the top, both
    kept by the operations that change the holder. "Codes held in my subtree" is then an equality on
    the branch (plus a prefix match below the first level) that an index returns newest first.
    """

    code = models.CharField(verbose_name=_("code"), max_length=32)
    # No index of its own: ``code_service_created`` starts with the service.
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+", db_index=False,
                                help_text=_("The top account the code belongs to (denormalised)."))
    validity_days = models.PositiveIntegerField(verbose_name=_("validity days"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_VALIDITY_DAYS)])
    created_at = models.DateTimeField(verbose_name=_("created at"))
    # Indexed by ``code_shared_created`` (which starts with it).
    shared_with = models.ForeignKey("accounts.Account", verbose_name=_("shared with"), null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="shared_codes", db_index=False)
    holder_path = models.CharField(verbose_name=_("holder path"), max_length=512, editable=False)
    holder_branch = models.BigIntegerField(verbose_name=_("holder branch"), null=True, blank=True, editable=False,
                                           help_text=_("The holder's dealer branch (its account one level below "
                                                     "the top); empty while the top holds the code."))
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=CodeStatus.choices, default=CodeStatus.NEW)
    activated_at = models.DateTimeField(verbose_name=_("activated at"), null=True, blank=True)
    expires_at = models.DateTimeField(verbose_name=_("expires at"), null=True, blank=True)
    unit = models.ForeignKey("units.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT, related_name="codes")
    cleared_at = models.DateTimeField(verbose_name=_("cleared at"), null=True, blank=True,
                                      help_text=_("When the daily job took the expired code off its unit."))
    # The renewal queue (SPEC §9.5): the unit this code waits on while its status is ``queued``. The
    # planned clock (``activated_at`` = the live code's ``expires_at``) is written when it is queued, so
    # reads derive the start without a join; the sweep starts it at that instant.
    queued_on = models.ForeignKey("units.Unit", verbose_name=_("queued on"), null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="queued_codes", db_index=False,
                                  help_text=_("The unit this code waits on, to start when its live code ends."))

    class Meta:
        verbose_name_plural = _("activation codes")
        ordering = ["-created_at", "id"]
        verbose_name = _("activation code")
        constraints = [
            # A constraint rather than ``unique=True``: PostgreSQL then gets no second, pattern-ops index
            # on the code (codes are only ever looked up whole), one index fewer to write per row.
            models.UniqueConstraint(fields=["code"], name="code_unique"),
            # One unit, at most one live code; the sweep and every assignment keep `status` exact.
            models.UniqueConstraint(fields=["unit"], condition=models.Q(status="active"),
                                    name="code_one_live_code_per_unit"),
            # One unit, at most one queued code (SPEC §9.5); a code is queued on one unit by construction
            # (one column), and never while on a unit (below).
            models.UniqueConstraint(fields=["queued_on"], condition=models.Q(status="queued"),
                                    name="code_one_queued_code_per_unit"),
            models.CheckConstraint(
                condition=(models.Q(status="new", activated_at__isnull=True, expires_at__isnull=True,
                                    unit__isnull=True, queued_on__isnull=True)
                           | models.Q(status="queued", activated_at__isnull=False, expires_at__isnull=False,
                                      unit__isnull=True, queued_on__isnull=False)
                           | (models.Q(status__in=["active", "expired"], activated_at__isnull=False,
                                       expires_at__isnull=False, queued_on__isnull=True))),
                name="code_clock_matches_status",
            ),
            models.CheckConstraint(condition=models.Q(validity_days__gte=1, validity_days__lte=MAX_VALIDITY_DAYS),
                                   name="code_validity_in_range"),
        ]
        # Indexes are partial wherever a filter implies the condition (``holder_branch = 7`` implies
        # ``holder_branch IS NOT NULL``): a new code, unshared and on no unit, is written to five
        # indexes instead of ten; index writes are most of the cost of generating and expiring codes.
        indexes = [
            # The window's first page: a service's codes, newest first.
            models.Index(fields=["service", "-created_at", "id"], name="code_service_created"),
            # A distributor's window: codes held in its branch, newest first (all, and by stored status).
            models.Index(fields=["holder_branch", "-created_at", "id"], name="code_branch_created",
                         condition=models.Q(holder_branch__isnull=False)),
            models.Index(fields=["holder_branch", "status", "-created_at", "id"], name="code_branch_status_created",
                         condition=models.Q(holder_branch__isnull=False)),
            # The "shared with" filter, newest first (and the foreign key's index).
            models.Index(fields=["shared_with", "-created_at", "id"], name="code_shared_created",
                         condition=models.Q(shared_with__isnull=False)),
            # The expiry sweep and "expiring within N days": live codes by expiry.
            models.Index(fields=["expires_at"], name="code_live_expiry", condition=models.Q(status="active")),
            # Covering the dashboard's codes figures (unit, planned start): read from the index alone.
            models.Index(fields=["service", "status", "expires_at"], name="code_service_status_expiry",
                         include=["unit", "activated_at"], condition=models.Q(expires_at__isnull=False)),
            # The window's new codes, newest first (the default view merges them with the live codes, which a
            # GiST index returns newest first without walking past due or expired ones: migration 0006).
            models.Index(fields=["service", "-created_at", "id"], name="code_service_new",
                         condition=models.Q(status="new")),
            # The validity filter, newest first, for each stored status; and its capped count, which reads
            # only the matching rows (no walk through the service or the branch when few match).
            models.Index(fields=["service", "validity_days", "status", "-created_at", "id"],
                         name="code_service_validity"),
            models.Index(fields=["holder_branch", "validity_days", "status", "-created_at", "id"],
                         name="code_branch_validity", condition=models.Q(holder_branch__isnull=False)),
            # "On a unit": the codes on units (bounded by the units), newest first.
            models.Index(fields=["service", "-created_at", "id"], name="code_service_on_unit",
                         condition=models.Q(unit__isnull=False)),
            models.Index(fields=["holder_branch", "-created_at", "id"], name="code_branch_on_unit",
                         condition=models.Q(unit__isnull=False, holder_branch__isnull=False)),
            # The capped count of a distributor's codes with a clock (the window's live part): a range of
            # this index, read from the index alone, that stops at the cap.
            models.Index(fields=["holder_branch", "status", "expires_at"], name="code_branch_status_expiry",
                         condition=models.Q(holder_branch__isnull=False, expires_at__isnull=False)),
            # The window's expired codes (state "expired"), newest first: the swept ones of a service (a
            # distributor's come from ``code_branch_status_created``); the due ones from ``code_live_knn``.
            models.Index(fields=["service", "-created_at", "id"], name="code_service_expired",
                         condition=models.Q(status="expired")),
            # The capped count of a service's codes running on no unit ("active, unassigned", "not on a unit"):
            # a range of expiries, read from the index alone, that holds no code on a unit (a distributor's
            # is counted from ``code_free_knn``, which starts with the branch).
            models.Index(fields=["service", "expires_at"], name="code_service_free_expiry",
                         condition=models.Q(status="active", unit__isnull=True)),
            # The "activated" date range (codes that never started are not in it).
            models.Index(fields=["service", "activated_at"], name="code_service_activated",
                         condition=models.Q(activated_at__isnull=False)),
            models.Index(fields=["holder_branch", "activated_at"], name="code_branch_activated",
                         condition=models.Q(activated_at__isnull=False, holder_branch__isnull=False)),
        ]
        permissions = [
            ("generate_codes", "Can generate activation codes"),
            ("apply_code", "Can apply an activation code to a unit by hand"),
            ("assign_code", "Can assign, unassign and reassign activation codes"),
            ("share_code", "Can share and unshare activation codes"),
        ]

    def __str__(self):
        return self.code

    def state(self, *, at: datetime) -> str:
        """The state at an instant: an active code whose time is up reads as expired; a queued code reads
        as active from its planned start (its live code's expiry) even before the sweep starts it."""
        if self.status in (CodeStatus.ACTIVE, CodeStatus.QUEUED) and self.expires_at is not None \
                and at >= self.expires_at:
            return CodeStatus.EXPIRED
        if self.status == CodeStatus.QUEUED and at >= self.activated_at:
            return CodeStatus.ACTIVE
        return self.status

    def unit_id_at(self, at: datetime) -> int | None:
        """The unit the code is on at an instant: a started queued code is on the unit it waited on."""
        if self.status == CodeStatus.QUEUED and at >= self.activated_at:
            return self.queued_on_id
        return self.unit_id

    def queued_on_id_at(self, at: datetime) -> int | None:
        """The unit the code waits on at an instant (None once its planned start has passed)."""
        return self.queued_on_id if self.state(at=at) == CodeStatus.QUEUED else None

    def days_left(self, *, at: datetime) -> int | None:
        """ceil((expires_at − at) / 24 h), 0 once expired, None before the first assignment."""
        if self.expires_at is None:
            return None
        remaining = (self.expires_at - at) / DAY
        return max(math.ceil(remaining), 0)

    @property
    def display(self) -> str:
        """The code in groups of eight, easier to read aloud and to type."""
        return "-".join(self.code[i:i + 8] for i in range(0, 32, 8))


class CodeAction(models.TextChoices):
    GENERATED = "generated", _("Generated")
    SHARED = "shared", _("Shared")
    UNSHARED = "unshared", _("Unshared")
    ASSIGNED = "assigned", _("Assigned")
    UNASSIGNED = "unassigned", _("Unassigned")
    REASSIGNED = "reassigned", _("Reassigned")
    APPLIED = "applied", _("Applied by hand")
    EXPIRED = "expired", _("Expired")
    CLEARED = "cleared", _("Cleared")
    UNIT_DEACTIVATED = "unit_deactivated", _("Unit deactivated")
    UNIT_ACTIVATED = "unit_activated", _("Unit activated")
    QUEUED = "queued", _("Queued")
    UNQUEUED = "unqueued", _("Unqueued")
    RENEWED = "renewed", _("Renewed (queued code started)")


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused: the log is written once and kept."""

    def update(self, **kwargs):
        raise PermissionError("The code log is append-only: events cannot be changed.")

    def delete(self):
        raise PermissionError("The code log is append-only: events cannot be deleted.")


class CodeEvent(models.Model):
    """One action on a code or a unit, written in the transaction of the operation that did it.

    Events hold ids and name snapshots, not foreign keys, so nothing cascades into the log and the
    names read as they were. The three ``*_path`` columns carry what visibility needs (SPEC §8.5):
    the unit's account at that time and the code's holder before and after the action.
    """

    at = models.DateTimeField(verbose_name=_("at"))
    action = models.CharField(verbose_name=_("action"), max_length=20, choices=CodeAction.choices)
    service_id = models.BigIntegerField(verbose_name=_("service id"))
    actor_id = models.BigIntegerField(verbose_name=_("actor id"), null=True, blank=True)
    actor_name = models.CharField(verbose_name=_("actor name"), max_length=150, default="system")
    code = models.CharField(verbose_name=_("code"), max_length=32, blank=True, default="")
    code_id = models.BigIntegerField(verbose_name=_("code id"), null=True, blank=True)
    unit_id = models.BigIntegerField(verbose_name=_("unit id"), null=True, blank=True)
    unit_name = models.CharField(verbose_name=_("unit name"), max_length=200, blank=True, default="")
    account_id = models.BigIntegerField(verbose_name=_("account id"), null=True, blank=True)
    account_name = models.CharField(verbose_name=_("account name"), max_length=200, blank=True, default="")
    account_path = models.CharField(verbose_name=_("account path"), max_length=512, blank=True, default="")
    holder_path_before = models.CharField(verbose_name=_("holder path before"), max_length=512, blank=True, default="")
    holder_path_after = models.CharField(verbose_name=_("holder path after"), max_length=512, blank=True, default="")
    before = models.JSONField(verbose_name=_("before"), default=dict, blank=True)
    after = models.JSONField(verbose_name=_("after"), default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("code event")
        verbose_name_plural = _("code log")
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["service_id", "-at"], name="codeevent_service_at"),
            # A code's history by its id, not its text: ids of new codes grow, so the index is appended
            # to, where 32 random hex characters would land anywhere (4× the cost of writing an event).
            models.Index(fields=["code_id", "-at"], name="codeevent_code_id_at"),
            models.Index(fields=["unit_id", "-at"], name="codeevent_unit_at"),
        ]
        # UPDATE, DELETE and TRUNCATE refused by the database (tests lift them through ``core.guards.lifted``).
        triggers = append_only("code_event_append_only")

    def __str__(self):
        return f"{self.get_action_display()} {self.code or self.unit_name}"

    def change_summary(self) -> str:
        """``key: before → after`` for every value the action changed (names and reasons, for the report)."""
        parts = []
        for key in dict.fromkeys([*self.before, *self.after]):
            if key.endswith("_name") and key[:-5] in self.after:
                continue
            old, new = self.before.get(key), self.after.get(key)
            old = self.before.get(f"{key}_name") or old
            new = self.after.get(f"{key}_name") or new
            parts.append(f"{key}: {old} → {new}" if key in self.before else f"{key}: {new}")
        return "; ".join(parts)

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("The code log is append-only: events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The code log is append-only: events cannot be deleted.")


class ExpiryNotice(models.Model):
    """A warning shown to (and optionally e-mailed to) operators before their units' codes expire."""

    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    author_account = models.ForeignKey("accounts.Account", verbose_name=_("author account"), on_delete=models.PROTECT, related_name="expiry_notices",
                                       help_text=_("The account of the operator who set the notice up."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    name = models.CharField(verbose_name=_("name"), max_length=50)
    text = models.TextField(verbose_name=_("text"), max_length=500)
    days_before = models.PositiveSmallIntegerField(verbose_name=_("days before"), validators=[MinValueValidator(1), MaxValueValidator(99)])
    repeat = models.BooleanField(verbose_name=_("repeat"), default=False, help_text=_("Show at every page while the condition holds; "
                                                          "otherwise once, until dismissed."))
    send_email = models.BooleanField(verbose_name=_("send email"), default=True)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("recipients"), related_name="expiry_notices")
    created_at = models.DateTimeField(verbose_name=_("created at"))
    last_run_at = models.DateTimeField(verbose_name=_("last run at"),
        null=True, blank=True, editable=False,
        help_text=_("When the job last recorded this notice's concerned codes; the next run reaches back to here."))

    class Meta:
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(days_before__gte=1, days_before__lte=99),
                                   name="notice_days_before_1_99"),
        ]

    def __str__(self):
        return self.name


class NoticeEmail(models.Model):
    """One e-mail of a notice to one recipient: the codes of the deliveries a job run recorded for them.

    Sent by its own Celery task after the recording transaction commits. ``claimed_at`` is set under the
    row lock in a transaction of its own before the message leaves; ``sent_at`` once the mail server took
    it. A failed send clears the claim, so only this e-mail is tried again (by the task's retry, or by the
    next job run); a claim older than ``CLAIM_TIMEOUT`` (a worker that died mid-send) is taken again.
    """

    notice = models.ForeignKey(ExpiryNotice, verbose_name=_("notice"), on_delete=models.CASCADE, related_name="emails")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(verbose_name=_("created at"))
    claimed_at = models.DateTimeField(verbose_name=_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(verbose_name=_("attempts"), default=0)
    last_error = models.CharField(verbose_name=_("last error"), max_length=500, blank=True, default="")

    CLAIM_TIMEOUT = timedelta(hours=1)

    class Meta:
        verbose_name = _("notice email")
        verbose_name_plural = _("notice emails")
        indexes = [
            # The job's catch-up: e-mails not sent yet (a handful; the index holds only those).
            models.Index(fields=["created_at"], name="notice_email_unsent", condition=models.Q(sent_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.notice} → {self.recipient}"


class NoticeDelivery(models.Model):
    """One notice for one recipient about one code: the unique key makes delivery exactly-once.

    ``unit_name`` is the unit the code was on when recorded (or when it expired, if the daily clear took
    it off since); empty for a code on no unit, which is listed by itself with its holder
    (``holder_name``). Both are snapshots, so the banner and the e-mail name what the recipient was
    entitled to see when the delivery was recorded.
    """

    notice = models.ForeignKey(ExpiryNotice, verbose_name=_("notice"), on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="+")
    code = models.ForeignKey(ActivationCode, verbose_name=_("code"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(verbose_name=_("created at"))
    unit_name = models.CharField(verbose_name=_("unit name"), max_length=200, blank=True, default="")
    holder_name = models.CharField(verbose_name=_("holder name"), max_length=200, blank=True, default="")
    email = models.ForeignKey(NoticeEmail, verbose_name=_("email"), null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries",
                              help_text=_("The e-mail that lists this code (none when the notice is not e-mailed)."))
    dismissed_at = models.DateTimeField(verbose_name=_("dismissed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notice delivery")
        verbose_name_plural = _("notice deliveries")
        constraints = [
            models.UniqueConstraint(fields=["notice", "recipient", "code"], name="notice_delivery_once"),
        ]
        indexes = [models.Index(fields=["recipient", "dismissed_at"], name="delivery_recipient_open")]


class CodeGenerationJob(models.Model):
    """A batch of codes too big to generate within a request (issue 15): generated by a Celery task
    (``apps.codes.tasks.run_generation_job``) in chunks, each chunk in one transaction with the job's
    ``done`` count, so the progress page follows it and a second run (a redelivered message, a
    worker restarted) carries on from ``done`` instead of generating twice. Every code of the job
    has the job's ``created_at``: the batch is (service, created_at), like a batch made in a request."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Generating")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey("accounts.Account", verbose_name=_("service"), on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"))
    validity_days = models.PositiveIntegerField(verbose_name=_("validity days"))
    shared_with = models.ForeignKey("accounts.Account", verbose_name=_("shared with"), null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    state = models.CharField(verbose_name=_("state"), max_length=10, choices=State.choices, default=State.QUEUED)
    done = models.PositiveIntegerField(verbose_name=_("done"), default=0)
    message = models.CharField(verbose_name=_("message"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(verbose_name=_("created at"), help_text=_("The batch's instant: every code of the job is created at it."))
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name_plural = _("code generation jobs")
        ordering = ["-created_at", "-id"]
        verbose_name = _("code generation job")

    def __str__(self):
        return f"{self.quantity} codes ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        return 100 if self.state == self.State.DONE else int(100 * self.done / self.quantity) if self.quantity else 0

    @property
    def stalled(self) -> bool:
        """Unfinished an hour after it was queued: its worker most likely stopped (what was generated
        stays; running the job again carries on)."""
        from django.utils import timezone

        return not self.finished and self.created_at < timezone.now() - timedelta(hours=1)
