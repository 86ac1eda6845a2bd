"""The Audit log admin page and the History pages of accounts, units, plans and codes (SPEC §9.2)."""


from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core import clock
from apps.core.admin import CappedPaginator, stream_csv
from apps.core.day_range import DayRangeMixin, with_today
from apps.core.labels import label_kept
from apps.core.pickers import register_picker, use_picker
from apps.core.scoping import is_platform

from .models import Account, AuditEvent, LedgerEntry
from .queries import accounts_visible_to, audit_events_visible_to, audit_in_subtree
from .rights import may_read_audit

SUBJECT_TYPES = ("account", "operator", "plan", "plan_service", "account_service", "catalogue_service", "unit",
                 "monitoring_user", "grant", "code", "expiry_notice", "job")
ACTIONS = sorted((
    "account_created", "account_updated", "account_plan_changed", "account_blocked", "account_unblocked",
    "dealer_rights_granted", "dealer_rights_revoked", "billing_method_changed", "payment_recorded",
    "operator_created", "operator_updated", "token_rotated", "account_service_created", "account_service_updated",
    "account_service_deleted", "plan_created", "plan_updated", "plan_deleted", "plan_service_added",
    "plan_service_updated", "plan_service_removed", "plan_services_imported", "plan_services_exported",
    "plan_services_file_imported", "app_service_added", "unit_created", "unit_updated", "unit_moved",
    "unit_activated", "unit_deactivated", "unit_archived", "monitoring_user_created", "grant_created",
    "grant_revoked", "codes_generated", "code_assigned", "code_unassigned", "code_reassigned", "code_applied",
    "code_expired", "code_renewed", "code_queued", "code_unqueued", "code_shared", "code_unshared",
    "code_cleared", "expiry_notice_created", "expiry_notice_updated", "job_run"))
LOG_HEADER = [_("time"), _("action"), _("actor"), _("subject type"), _("subject"), _("account"), _("before"),
              _("after"), _("reason")]

register_picker("accounts.audit.account", Account, may_use=may_read_audit)


class AuditFilterForm(DayRangeMixin, forms.Form):
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    service = forms.ModelChoiceField(queryset=Account.objects.none(), required=False, label=_("Service"),
                                     empty_label=_("Every service"))
    action = forms.ChoiceField(label=_("Action"), required=False, choices=[("", _("Any action"))])
    actor = forms.IntegerField(label=_("Actor (operator id)"), required=False, min_value=1,
                               max_value=2**63 - 1)
    account = forms.ModelChoiceField(queryset=Account.objects.none(), required=False,
                                     label=_("Account (with its subtree)"))
    subject_type = forms.ChoiceField(label=_("Subject type"), required=False, choices=[("", _("Any"))])
    subject_id = forms.IntegerField(label=_("Subject id"), required=False, min_value=1, max_value=2**63 - 1)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", _("Any action")), *((a, a) for a in ACTIONS)]
        self.fields["subject_type"].choices = [("", _("Any")), *((t, t) for t in SUBJECT_TYPES)]
        if is_platform(user):
            self.fields["service"].queryset = Account.objects.filter(parent__isnull=True).order_by("name")
        else:
            del self.fields["service"]
        use_picker(self.fields["account"], LedgerEntry, "account", "accounts.audit.account")
        self.fields["account"].queryset = accounts_visible_to(user).order_by("path")
        self.tz = timezone.get_current_timezone()


def filtered_events(request, form: AuditFilterForm):
    events = audit_events_visible_to(request.user)
    if not form.is_valid():
        return events.none()
    since, until = form.window()
    events = events.filter(at__gte=since, at__lt=until)
    data = form.cleaned_data
    if data.get("service"):
        events = events.filter(service_id=data["service"].pk)
    for name in ("action", "subject_type"):
        if data.get(name):
            events = events.filter(**{name: data[name]})
    if data.get("actor"):
        events = events.filter(actor_id=data["actor"])
    if data.get("subject_id"):
        events = events.filter(subject_id=data["subject_id"])
    if data.get("account"):
        events = audit_in_subtree(events, data["account"])
    return events.order_by("-at", "-id")


def _shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return str(value)


def change_text(event: AuditEvent) -> str:
    """``field: before → after`` for each field (values as stored: names, numbers, ISO dates)."""
    parts = []
    for key in dict.fromkeys([*event.before, *event.after]):
        if key in event.before and key in event.after:
            parts.append(f"{key}: {_shown(event.before[key])} → {_shown(event.after[key])}")
        elif key in event.after:
            parts.append(f"{key}: {_shown(event.after[key])}")
        else:
            parts.append(f"{key}: {_shown(event.before[key])} → —")
    return "; ".join(parts)


def audit_log_view(request):
    """The Audit log: a date range (today by default, in the page's time zone, written into the boxes),
    filters, a capped count, and CSV of every row in scope (streamed)."""
    if not may_read_audit(request.user):
        raise PermissionDenied
    params = with_today(request.GET)
    form = AuditFilterForm(params, user=request.user)
    events = filtered_events(request, form)
    tz = timezone.get_current_timezone()
    if request.GET.get("format") == "csv":
        rows = ([timezone.localtime(e.at, tz).isoformat(), e.action, e.actor_name, e.subject_type, e.subject_name,
                 e.account_name, e.before, e.after, e.reason] for e in events.iterator(chunk_size=2000))
        return stream_csv(f"audit-log-{clock.now():%Y%m%d-%H%M}.csv", [str(h) for h in LOG_HEADER], rows)
    page = CappedPaginator(events, 100).get_page(request.GET.get("p"))
    query = params.copy()
    query.pop("p", None)
    return TemplateResponse(request, "admin/accounts/audit_log.html", {
        **admin.site.each_context(request), "title": gettext("Audit log"), "form": form, "page": page,
        "rows": [(e, change_text(e)) for e in label_kept(request, list(page))], "tz": tz, "tz_name": timezone.get_current_timezone_name(),
        "query": query.urlencode(), "capped": page.paginator.count > CappedPaginator.CAP,
    })


def object_history(model_admin, request, object_id, subject_type: str, extra_context=None):
    """An admin History page that lists the object's audit events (scoped like the Audit log)."""
    obj = model_admin.get_object(request, object_id)
    if obj is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    events = audit_events_visible_to(request.user).filter(subject_type=subject_type, subject_id=obj.pk)
    if subject_type == "account":  # an account's History: its own events, whatever their subject
        events = audit_events_visible_to(request.user).filter(account_id=obj.pk)
    events = list(events.order_by("-at", "-id")[:500])
    return TemplateResponse(request, "admin/audit_history.html", {
        **model_admin.admin_site.each_context(request), "title": gettext("History: %(name)s") % {"name": obj},
        "subject_title": str(obj), "opts": model_admin.opts, "object": obj, "module_name": model_admin.opts.verbose_name_plural,
        "rows": [(e, change_text(e)) for e in label_kept(request, events)], "tz": timezone.get_current_timezone(),
        "tz_name": timezone.get_current_timezone_name(), **(extra_context or {}),
    })


class AuditHistoryMixin:
    """History button → the object's events in the audit trail."""

    audit_subject_type = ""

    def history_view(self, request, object_id, extra_context=None):
        return object_history(self, request, object_id, self.audit_subject_type, extra_context)
