"""Forms of the codes admin pages: generate, apply by hand, the bulk-action confirmations, the log
report and expiry notices. Choices are always scoped to the operator."""


from django.utils.translation import gettext
from django import forms
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.accounts.models import Account, Operator
from apps.core.admin import OperationForm
from apps.core.day_range import DayRangeMixin
from apps.core.labels import PathLabels, unit_label
from apps.core.pickers import use_picker
from apps.core.scoping import in_scope, is_platform
from apps.units.queries import scoped_units

from . import operations
from .models import MAX_BATCH, MAX_VALIDITY_DAYS, VALIDITY_PRESETS, ActivationCode, CodeAction, ExpiryNotice
from .queries import normalize_code


def share_targets_for(user):
    """Dealer accounts strictly below the operator (the platform: every dealer account)."""
    qs = in_scope(Account.objects.filter(dealer_rights=True, parent__isnull=False), user)
    if not is_platform(user):
        qs = qs.exclude(pk=user.account_id)
    return qs.select_related("service").order_by("service__name", "path")


def _days(count: int) -> str:
    return ngettext("%(days)d day", "%(days)d days", count) % {"days": count}


lazy_days = lazy(_days, str)


class AccountChoiceField(forms.ModelChoiceField):
    """An account choice labelled with its real path from the viewer's level (North › North-East; the
    platform operator's start with the service): ``labels`` is the viewer's ``PathLabels``."""

    labels: PathLabels | None = None

    def label_from_instance(self, obj):
        return self.labels(obj) if self.labels is not None else obj.name


class GenerateForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=Account.objects.none(), required=False,
                                     help_text=_("The service the codes belong to."))
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=MAX_BATCH, initial=10)
    validity_preset = forms.TypedChoiceField(
        label=_("Validity"), coerce=int, required=False, initial=365,
        choices=[(d, lazy_days(d)) for d in VALIDITY_PRESETS] + [("", _("Other…"))])
    validity_days = forms.IntegerField(label=_("Other validity (days)"), min_value=1, max_value=MAX_VALIDITY_DAYS,
                                       required=False,
                                       help_text=format_lazy(_("1 to {} days."), f"{MAX_VALIDITY_DAYS:,}"))
    shared_with = AccountChoiceField(queryset=Account.objects.none(), required=False,
                                     label=_("Share with distributor"), help_text=_("Optional."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if is_platform(user):
            self.fields["service"].queryset = Account.objects.filter(parent__isnull=True).order_by("name")
            self.fields["service"].required = True
        else:
            del self.fields["service"]
        self.fields["shared_with"].queryset = share_targets_for(user)
        self.fields["shared_with"].labels = PathLabels(user)

    def clean(self):
        data = super().clean()
        days = data.get("validity_days") or data.get("validity_preset")
        if not days:
            self.add_error("validity_days", gettext("Choose a preset or type a number of days."))
        data["days"] = days
        return data

    def service_account(self) -> Account:
        return self.cleaned_data["service"] if is_platform(self.user) else Account.objects.get(
            pk=self.user.account.service_id)


class ApplyForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=80, help_text=_("32 characters; case, spaces and dashes do not matter."),
                           widget=forms.TextInput(attrs={"size": 44, "autocomplete": "off", "autofocus": True}))
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=None, help_text=_("A unit of your branch."))
    # Offered (shown) once the chosen unit turns out to hold a live code (SPEC §9.5).
    queue = forms.BooleanField(required=False, widget=forms.HiddenInput, label=_("Queue it after the live code"),
                               help_text=_("The code starts the instant the unit's live code ends: no day is lost."))

    def offer_queue(self, live_until: str):
        """Show the queue box, with why: the unit holds a live code until ``live_until``."""
        field = self.fields["queue"]
        field.widget = forms.CheckboxInput()
        field.help_text = _("This unit's live code runs until %(until)s. Tick to queue this code behind it: "
                            "it starts the instant that code ends, and no day is lost.") % {"until": live_until}
        self["queue"].help_text = field.help_text  # the bound field copied it when validation built it

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        use_picker(self.fields["unit"], ActivationCode, "unit", "codes.apply")  # searchable, not every unit
        self.fields["unit"].queryset = scoped_units(user).select_related("account").order_by("name", "id")
        labels = PathLabels(user)
        self.fields["unit"].label_from_instance = lambda u: unit_label(labels, u)

    def clean_code(self):
        text = normalize_code(self.cleaned_data["code"])
        if text is None:
            raise forms.ValidationError(gettext("A code is 32 hexadecimal characters (spaces and dashes are ignored)."))
        return text


class ShareForm(forms.Form):
    account = AccountChoiceField(queryset=Account.objects.none(), label=_("Share with"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        use_picker(self.fields["account"], ActivationCode, "shared_with", "codes.share", attrs={"style": "width: 24em"})
        self.fields["account"].queryset = share_targets_for(user)
        self.fields["account"].labels = PathLabels(user)


class AssignUnitsForm(forms.Form):
    units = forms.ModelMultipleChoiceField(label=_("Units"), queryset=None, help_text=_("One code per unit, units in name order."))
    picker = "codes.assign"  # apps.core.pickers: searchable, the same units as ``units_qs``

    def __init__(self, *args, units_qs, user, **kwargs):
        super().__init__(*args, **kwargs)
        use_picker(self.fields["units"], ActivationCode, "unit", self.picker, multiple=True,
                   attrs={"style": "width: 32em"})
        self.fields["units"].queryset = units_qs
        self.labels = PathLabels(user)
        self.fields["units"].label_from_instance = lambda u: unit_label(self.labels, u)


class QueueUnitsForm(AssignUnitsForm):
    """The units to queue the selected codes on: units holding a live code and no queued one."""

    picker = "codes.queue"

    def __init__(self, *args, units_qs, user, **kwargs):
        super().__init__(*args, units_qs=units_qs, user=user, **kwargs)
        self.fields["units"].help_text = _("Units with a live code and none queued; one code per unit, units in "
                                           "name order. Each code starts when the unit's live code ends.")
        tz = timezone.get_current_timezone()
        self.fields["units"].label_from_instance = lambda u: _("%(unit)s (%(imei)s, %(account)s) — live code until "
                                                               "%(until)s") % {
            "unit": u.name, "imei": u.unique_id, "account": self.labels(u.account),
            "until": f"{timezone.localtime(u.live_until, tz):%Y-%m-%d %H:%M}" if u.live_until else "—"}


class LogFilterForm(DayRangeMixin, forms.Form):
    """The code log report's filters; the range defaults to today in the operator's time zone."""

    since = forms.DateField(label=_("Since"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            help_text=_("Inclusive."))
    service = forms.ModelChoiceField(queryset=Account.objects.none(), required=False,
                                     empty_label=_("Every service"), label=_("Service"))
    action = forms.ChoiceField(label=_("Action"), required=False, choices=[("", _("Any action")), *CodeAction.choices])
    account = forms.ModelChoiceField(label=_("Account"), queryset=Account.objects.none(), required=False)
    unit = forms.CharField(label=_("Unit"), required=False, help_text=_("Unit name (contains) or id."))
    code = forms.CharField(label=_("Code"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = in_scope(Account.objects.all(), user).order_by("path")
        if is_platform(user):  # the platform operator's "Service" filter (SPEC §8.7); the accounts follow it
            self.fields["service"].queryset = Account.objects.filter(parent__isnull=True).order_by("name")
            chosen = self.data.get("service", "") if self.is_bound else ""
            if chosen.isascii() and chosen.isdigit() and len(chosen) <= 18:
                accounts = accounts.filter(service_id=int(chosen))
        else:
            del self.fields["service"]
        use_picker(self.fields["account"], ActivationCode, "shared_with", "codes.log.account")  # searchable
        self.fields["account"].queryset = accounts
        # The page's zone (``accounts.middleware``): the operator's service's, the platform operator's chosen
        # service's, else UTC; the same zone the page shows its times in.
        self.tz = timezone.get_current_timezone()


class ExpiryNoticeForm(OperationForm):
    """Create or change a notice through ``create_notice`` / ``update_notice``."""

    service = forms.ModelChoiceField(label=_("Service"), queryset=Account.objects.filter(parent__isnull=True), required=False,
                                     help_text=_("Platform operator: the service this notice belongs to."))

    class Meta:
        model = ExpiryNotice
        fields = ("name", "text", "days_before", "repeat", "send_email", "recipients")
        widgets = {"text": forms.Textarea(attrs={"rows": 4, "maxlength": 500})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.actor
        recipients = Operator.objects.filter(is_active=True, account__isnull=False).select_related("account")
        self.fields["recipients"].queryset = in_scope(recipients, user, "account").order_by("username")
        if not is_platform(user) or self.instance.pk:
            del self.fields["service"]

    def perform(self, actor):
        data = self.cleaned_data
        common = {"name": data["name"], "text": data["text"], "days_before": data["days_before"],
                  "repeat": data["repeat"], "send_email": data["send_email"], "recipients": data["recipients"]}
        if self.instance.pk:
            return operations.update_notice(actor=actor, notice=self.instance, **common)
        return operations.create_notice(actor=actor, service=data.get("service"), **common)


class ReassignForm(forms.Form):
    """The unit a code moves to: a searchable picker of the units in scope without a live code."""

    unit = forms.ModelChoiceField(queryset=None, label=_("Move to unit"),
                                  help_text=_("A unit of your branch without a live code. The code's clock keeps "
                                              "running; the old unit is deactivated."))

    def __init__(self, *args, units_qs, user, **kwargs):
        super().__init__(*args, **kwargs)
        use_picker(self.fields["unit"], ActivationCode, "unit", "codes.assign", attrs={"style": "width: 32em"})
        self.fields["unit"].queryset = units_qs
        labels = PathLabels(user)
        self.fields["unit"].label_from_instance = lambda u: unit_label(labels, u)
