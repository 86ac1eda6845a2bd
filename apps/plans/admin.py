"""The plan window, plan services (with CSV/XLSX import/export and transfers between plans), the
service catalogue, device types, modems and the plan history, in the admin.

Every write goes through ``apps.plans.operations``. The plan page validates the plan and every
service row before saving anything, so a bad cost table leaves the whole page unsaved.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from apps.accounts import rights
from apps.accounts.audit_views import AuditHistoryMixin
from apps.accounts.models import Account
from apps.core import clock
from apps.core.admin import (OperationAdminMixin, OutOfScopeIs404, ReadOnlyAdminMixin, operator_blocked,
                             ScopedRelatedFilter, add_domain_error, invalid_filter_response, refused_on_row,
                             service_filter)
from apps.core.errors import DomainError
from apps.core.money import currency_example
from apps.core.scoping import is_platform

from . import operations
from .forms import (PlanForm, PlanServiceConfirmImportForm, PlanServiceForm, PlanServiceFormSet,
                    PlanServiceImportForm, TransferForm)
from .inheritance import effective_services
from .catalogue import APP_PREFIX
from .models import CatalogueService, DeviceType, Modem, Plan, PlanEvent, PlanService, ResetInterval, ServiceType
from .queries import (catalogue_visible_to, plan_events_visible_to, plan_services_visible_to, plans_manageable_by,
                      plans_visible_to)
from .resources import PlanServiceResource

# The site catalogue first: the calculator writes its sentences with gettext() in the page's language.
CALCULATOR_MEDIA = {"js": (reverse_lazy("site-jsi18n"), "plans/cost_table_preview.js"),
                    "css": {"all": ("plans/plans.css",)}}


def _blocked(request) -> bool:
    return operator_blocked(request)  # read once a request (issue 16)


def _warn_cost_table(request, name: str, form):
    """A saved row whose typed cost table denies the service from some position says so (``1:-0.5`` is
    saved as ``-1``: the denial of every use, not a price)."""
    for warning in getattr(form, "cost_table_warnings", ()):
        messages.warning(request, _("Service “%(name)s”, cost table: %(warning)s") % {"name": name,
                                                                                      "warning": warning})


class PlanServiceInline(admin.TabularInline):
    model = PlanService
    form = PlanServiceForm
    formset = PlanServiceFormSet
    extra = 1
    fields = ("name", "type", "interval", "cost_table", "description")
    verbose_name = gettext_lazy("service")
    verbose_name_plural = gettext_lazy("This plan's own service rows (the others are inherited, see above)")

    def has_add_permission(self, request, obj=None):
        return obj is None or self._manage(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None or self._manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None or self._manage(request, obj)

    def has_view_permission(self, request, obj=None):
        return rights.may_read_plans(request.user)

    @staticmethod
    def _manage(request, plan) -> bool:
        return operations.may_manage_plan(request.user, plan) and not _blocked(request)


class PlanPagesMixin(OutOfScopeIs404):
    """What the plan and plan-row pages share: who reads them, the calculator's assets, big-list settings."""

    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    class Media:
        js = CALCULATOR_MEDIA["js"]
        css = CALCULATOR_MEDIA["css"]

    def has_module_permission(self, request):
        return rights.may_read_plans(request.user)

    def has_view_permission(self, request, obj=None):
        return rights.may_read_plans(request.user)


@admin.register(Plan)
class PlanAdmin(AuditHistoryMixin, PlanPagesMixin, OperationAdminMixin, admin.ModelAdmin):
    audit_subject_type = "plan"  # History: the audit trail's events of this plan
    form = PlanForm
    inlines = [PlanServiceInline]
    list_display = ("name", "parent", "service", "currency", "history", "own_services", "description")
    list_select_related = ("parent", "service")
    list_filter = (service_filter("service"),)
    search_fields = ("name",)
    ordering = ("name",)
    readonly_fields = ("effective_services_list", "calculator", "plan_links", "inherited_settings")
    actions = ["import_into_plan"]

    # --- rights and scope ---

    def get_queryset(self, request):
        return plans_visible_to(request.user)

    def has_add_permission(self, request):
        return rights.may_manage_plans(request.user) \
            and not _blocked(request)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return self.has_add_permission(request)
        return operations.may_manage_plan(request.user, obj) and not _blocked(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        general = ["name", "parent", "description", "block_by_balance", "block_balance", "limit_by_balance",
                   "deny_balance", "block_by_days", "min_days", "allow_unknown_services", "currency_format",
                   "history_period_days", "retranslator_mask", "sms_sender", "command_sender"]
        if obj is None and is_platform(request.user):
            general.insert(0, "service")
        if obj is not None and not self._editable(request, obj):
            general.insert(2, "inherited_settings")  # a reader sees "-" in each empty field: say what it gets
        fieldsets = [
            (_("General"), {"fields": general,
                            "description": _("Empty settings are inherited from the parent plan.")}),
            (_("Device types"), {"fields": ("device_type_limit", "device_types")}),
            (_("Modems"), {"fields": ("modems" if self._editable(request, obj) else "modems_display",)}),
            (_("E-mail"), {"fields": ("email",),
                           "description": _("Sender of the service's outgoing e-mail (e.g. code expiry notices).")}),
            (_("Report style"), {"fields": ("report_logo_url", "report_color")}),
        ]
        # Last, so that it sits right above the inline service rows.
        services = ("plan_links", "effective_services_list", "calculator") if obj is not None else ("calculator",)
        fieldsets.append((_("Services"), {"fields": services}))
        return fieldsets

    def _editable(self, request, obj) -> bool:
        return obj is None or self.has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if not self._editable(request, obj):
            return [*self.readonly_fields, *PlanForm.Meta.fields, "modems_display"]
        return self.readonly_fields

    def readonly_reason(self, request, obj) -> str | None:
        """Why ``obj`` opens read-only for this viewer (None when it may be changed): shown atop its page."""
        if obj is None or self.has_change_permission(request, obj):
            return None
        user = request.user
        if _blocked(request):
            return _("Your account is blocked: you may read this plan but not change it.")
        if rights.is_top_user(user) and obj.service_id == getattr(user.account, "service_id", None):
            return _("This is your service's own plan or one of its parents; only the platform operator changes it. "
                     "Make a sub-plan of it to change settings for your accounts.")
        if rights.may_read_plans_by_dealing(user):
            return _("Distributors may read their plan and its sub-plans; only the top user and the platform "
                     "operator change plans.")
        return _("You may read this plan but not change it.")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["readonly_reason"] = self.readonly_reason(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.display(description=gettext_lazy("empty settings"))
    def inherited_settings(self, obj):
        """For a reader: what each setting this plan leaves empty gets, and from where (one query)."""
        from .forms import inherited_notes

        labels = {f.name: f.verbose_name for f in Plan._meta.fields}
        rows = [(str(labels[name]).capitalize(), note) for name, note in inherited_notes(obj).items()
                if getattr(obj, name) in (None, "")]
        if not rows:
            return _("This plan sets every setting itself.")
        return format_html('<table class="inherited-settings"><tbody>{}</tbody></table>',
                           format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description=gettext_lazy("modems"))
    def modems_display(self, obj):
        """The modems limited to this plan (``modems`` is a reverse relation the read-only view cannot show)."""
        return ", ".join(obj.modems.order_by("name").values_list("name", flat=True)) or "—"

    # --- saving through the operations ---

    def perform(self, request, form, formsets, change):
        """The plan, then each changed inline row, through their operations; the formsets' bookkeeping (the
        admin's change message) filled in as ``formset.save()`` would. Cost-table warnings are shown once
        everything is saved (a later refusal rolls the page back)."""
        values = form.changed_values()
        if change:
            plan = operations.update_plan(actor=request.user, plan=Plan.objects.get(pk=form.instance.pk),
                                          changes=values)
        else:
            plan = operations.create_plan(actor=request.user, service=form.service_account(), values=values)
        warnings = []
        for formset in formsets:
            for row_form in formset.deleted_forms:
                if row_form.instance.pk:
                    with refused_on_row(row_form):
                        operations.delete_plan_service(actor=request.user, row=row_form.instance)
                    formset.deleted_objects.append(row_form.instance)
            for row_form in formset.forms:
                data = getattr(row_form, "cleaned_data", None)
                if not data or data.get("DELETE") or not row_form.has_changed():
                    continue
                values = {k: data.get(k) for k in operations.SERVICE_ROW_FIELDS}
                with refused_on_row(row_form):
                    if row_form.instance.pk:
                        row = operations.update_plan_service(actor=request.user, row=row_form.instance,
                                                             changes=values)
                        formset.changed_objects.append((row, row_form.changed_data))
                    else:
                        row = operations.add_plan_service(actor=request.user, plan=plan, values=values)
                        formset.new_objects.append(row)
                warnings.append((row.name, row_form))
        for name, row_form in warnings:
            _warn_cost_table(request, name, row_form)
        return plan

    def delete_model(self, request, obj):
        operations.delete_plan(actor=request.user, plan=obj)

    def delete_view(self, request, object_id, extra_context=None):
        plan = self.get_object(request, object_id)
        if plan is not None and not self.has_delete_permission(request, plan):
            # A reader (a distributor) gets 403 before anything about the plan's uses is read: the
            # refusal below names every account on the plan, other branches' included.
            raise PermissionDenied
        if plan is not None and request.method == "POST":
            uses = operations.plan_uses(plan)
            if any(uses.values()):
                kinds = {"accounts": _("accounts"), "dealers": _("dealers"), "children": _("child plans")}
                parts = "; ".join(f"{kinds.get(kind, kind)}: {', '.join(names)}" for kind, names in uses.items()
                                  if names)
                self.message_user(request, _("“%(plan)s” is in use and cannot be deleted (%(uses)s).") % {
                    "plan": plan, "uses": parts}, messages.ERROR)
                from django.shortcuts import redirect

                return redirect(reverse("admin:plans_plan_change", args=[plan.pk]))
        return super().delete_view(request, object_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes one plan at a time, through delete_plan
        if not rights.may_manage_plans(request.user):
            actions.pop("import_into_plan", None)
        return actions

    # --- display ---

    @admin.display(description=gettext_lazy("currency"))
    def currency(self, obj):
        """The pattern as an example amount (``€1,234.50``), not its raw ``%.02f`` text."""
        return currency_example(obj.currency_format) if obj.currency_format else "—"

    @admin.display(description=gettext_lazy("history (days)"))
    def history(self, obj):
        return _("inherited") if obj.history_period_days is None else obj.history_period_days

    @admin.display(description=gettext_lazy("own services"))
    def own_services(self, obj):
        return obj.services.count()

    @admin.display(description=gettext_lazy("import / export"))
    def plan_links(self, obj):
        base = reverse("admin:plans_planservice_changelist")
        return format_html(
            '<a class="button" href="{}?plan__id__exact={}">{}</a> '
            '<a class="button" href="{}">{}</a> '
            '<a class="button" href="{}">{}</a>',
            base, obj.pk, _("Export this plan’s services…"), base, _("Import services from other plans…"),
            reverse("admin:plans_plan_effective", args=[obj.pk]), _("Effective plan"))

    @admin.display(description=gettext_lazy("effective services"))
    def effective_services_list(self, obj):
        rows = effective_services(obj)
        if not rows:
            return _("No services in this plan or its parents.")
        types, intervals = dict(ServiceType.choices), dict(ResetInterval.choices)
        body = format_html_join("", "<tr{}><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", (
            (' class="inherited"' if r.inherited else "", r.name, str(types.get(r.type, r.type)).lower(),
             str(intervals.get(r.interval, r.interval)).lower(), r.cost_table or _("(free, unlimited)"),
             r.explanation) for r in rows))
        return format_html('<table class="effective-services"><thead><tr><th>{}</th><th>{}</th>'
                           '<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody>'
                           '</table>', _("service"), _("type"), _("interval"), _("cost table"), _("comes"), body)

    @admin.display(description=gettext_lazy("calculator"))
    def calculator(self, obj):
        from apps.core.money import separators

        from .forms import currency_pattern

        plan = obj if isinstance(obj, Plan) else getattr(obj, "plan", None)
        decimal_separator, thousand_separator = separators()  # the page language's, as format_money uses
        return format_html(
            '<div class="cost-calculator" data-evaluate-url="{}" data-currency="{}" data-decimal="{}" '
            'data-thousands="{}">'
            '<label>{} <input type="text" class="calc-table" size="30" placeholder="{}">'
            '</label> <label>{} <input type="number" class="calc-count" min="0" max="9999" value="10"></label>'
            '<output class="calc-result" aria-live="polite"></output>'
            '<p class="help">{}</p></div>',
            reverse("cost-table-evaluate"), currency_pattern(plan), decimal_separator, thousand_separator,
            _("Cost table"), _("e.g. 1:0;10:1.5;-1"), _("count"),
            _("Type a table and a count: the price of the next object and the period’s total. "
              "Each service row above shows the same for its own table."))

    # --- extra pages ---

    def get_urls(self):
        from django.urls import path

        return [path("<int:pk>/effective/", self.admin_site.admin_view(self.effective_view),
                     name="plans_plan_effective"), *super().get_urls()]

    def effective_view(self, request, pk):
        from django.http import Http404

        from .queries import effective_plan

        plan = plans_visible_to(request.user).filter(pk=pk).first()
        if plan is None:
            raise Http404
        context = {**self.admin_site.each_context(request), "title": _("Effective plan: %(plan)s") % {"plan": plan.name},
                   "opts": self.opts, "view": effective_plan(plan), "original": plan}
        return TemplateResponse(request, "admin/plans/plan/effective.html", context)

    @admin.action(description=gettext_lazy("Import all services of the selected plans into a plan…"))
    def import_into_plan(self, request, queryset):
        return _transfer_view(self, request, queryset, direction="import", sources=list(queryset), names=None)


@admin.register(PlanService)
class PlanServiceAdmin(PlanPagesMixin, OperationAdminMixin, ImportExportMixin, admin.ModelAdmin):
    """Every plan's own service rows: the place for CSV/XLSX files and for transfers between plans."""

    form = PlanServiceForm
    resource_classes = [PlanServiceResource]
    import_form_class = PlanServiceImportForm
    confirm_form_class = PlanServiceConfirmImportForm
    import_template_name = "admin/plans/planservice/import.html"
    formats = [CSV, XLSX]
    list_display = ("name", "plan", "type", "interval", "cost_table_code", "description")
    list_select_related = ("plan", "plan__service")
    list_filter = (service_filter("plan__service"), ("plan", ScopedRelatedFilter), "type", "interval")
    search_fields = ("name", "plan__name")
    ordering = ("plan__name", "name")
    actions = ["export_to_plans", "import_into_plan"]
    fields = ("plan", "name", "type", "interval", "cost_table", "description", "calculator")
    readonly_fields = ("calculator",)

    def get_queryset(self, request):
        return plan_services_visible_to(request.user)

    def has_add_permission(self, request):
        return False  # rows are added on the plan page (validated with the plan's service catalogue)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return rights.may_manage_plans(request.user)
        return operations.may_manage_plan(request.user, obj.plan) and not _blocked(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_import_permission(self, request):
        return rights.may_manage_plans(request.user) \
            and not _blocked(request)

    def has_export_permission(self, request):
        return rights.may_read_plans(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"service_id": obj.plan.service_id if obj else None})

    def get_readonly_fields(self, request, obj=None):
        return ("plan", "calculator")

    def perform(self, request, form, formsets, change):
        values = {k: form.cleaned_data.get(k) for k in operations.SERVICE_ROW_FIELDS}
        row = operations.update_plan_service(actor=request.user, row=PlanService.objects.get(pk=form.instance.pk),
                                             changes=values)
        _warn_cost_table(request, row.name, form)
        return row

    def delete_model(self, request, obj):
        operations.delete_plan_service(actor=request.user, row=obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not self.has_import_permission(request):
            actions.pop("export_to_plans", None)
            actions.pop("import_into_plan", None)
        return actions

    @admin.display(description=gettext_lazy("cost table"), ordering="cost_table")
    def cost_table_code(self, obj):
        return format_html("<code>{}</code>", obj.cost_table) if obj.cost_table else _("(free, unlimited)")

    def calculator(self, obj):
        return PlanAdmin.calculator(self, obj)

    calculator.short_description = gettext_lazy("calculator")

    # --- import-export wiring ---

    def get_import_form_kwargs(self, request):
        return {**super().get_import_form_kwargs(request), "actor": request.user}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            service = import_form.cleaned_data.get("service")
            initial.update(mode=import_form.cleaned_data["mode"], service=service.pk if service else "")
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        data = getattr(form, "cleaned_data", None) or {}
        service = None
        if is_platform(request.user):
            chosen = data.get("service")
            if chosen is not None:
                service = chosen if isinstance(chosen, Account) else Account.objects.filter(
                    pk=chosen, parent__isnull=True).first()
        else:
            service = request.user.account.service
        return {"actor": request.user, "service": service, "mode": data.get("mode") or "add"}

    def export_action(self, request):
        """The export page applies the list's filters: one it cannot apply is a 400 with the reason (not a 500)."""
        try:
            return super().export_action(request)
        except IncorrectLookupParameters as exc:
            return invalid_filter_response(exc)

    def get_export_resource_kwargs(self, request, **kwargs):
        return {"actor": request.user}

    def process_result(self, result, request):
        removed = getattr(result, "sync_removed", {})
        response = super().process_result(result, request)
        if removed:
            listing = "; ".join(f"{plan}: {', '.join(names)}" for plan, names in removed.items())
            self.message_user(request, _("Removed by synchronisation: %(listing)s.") % {"listing": listing},
                              messages.INFO)
        return response

    def get_import_context_data(self, **kwargs):
        from . import tasks

        preview_rows = 1000  # a 10,000-row file previews its counts and first rows, not a 10,000-row table
        return {**super().get_import_context_data(**kwargs), "background_rows": tasks.BACKGROUND_ROWS,
                "preview_rows": preview_rows, "preview_slice": f":{preview_rows}"}

    def generate_log_entries(self, result, request):
        """The operations record every change in the plan events; no admin log entry per row."""

    def get_urls(self):
        from django.urls import path

        return [path("import/jobs/<int:pk>/", self.admin_site.admin_view(self.import_job_view),
                     name="plans_planservice_import_job"), *super().get_urls()]

    def process_import(self, request, **kwargs):
        """The confirmation: a file of more than ``tasks.BACKGROUND_ROWS`` rows becomes a background job
        (answered with its progress page); a smaller one is imported here. A file that became wrong
        since its preview (another write) is shown again with its bad rows, nothing imported."""
        from django.core.exceptions import PermissionDenied
        from django.shortcuts import redirect

        from . import tasks
        from .models import PlanImportJob

        if request.method != "POST":
            return redirect("admin:plans_planservice_import")
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)
        data = confirm_form.cleaned_data
        input_format = self.get_import_formats()[int(data["format"])](encoding=self.from_encoding)
        storage = self.get_tmp_storage_class()(
            name=data["import_file_name"], encoding=None if input_format.is_binary() else self.from_encoding,
            read_mode=input_format.get_read_mode(), **self.get_tmp_storage_class_kwargs())
        try:
            dataset = input_format.create_dataset(storage.read())
        except Exception:  # the temporary file is gone (already imported, or expired)
            self.message_user(request, _("The uploaded file is no longer available; upload it again."),
                              messages.ERROR)
            return redirect("admin:plans_planservice_import")
        resource_kwargs = self.get_import_resource_kwargs(request, form=confirm_form)
        if len(dataset) > tasks.BACKGROUND_ROWS and resource_kwargs["service"] is not None:
            job = PlanImportJob.objects.create(
                actor=request.user, service=resource_kwargs["service"], mode=resource_kwargs["mode"],
                file_name=(data.get("original_file_name") or "")[:255], file_format=int(data["format"]),
                tmp_name=data["import_file_name"], total_rows=len(dataset), created_at=clock.now())
            tasks.import_plan_services_file.delay(job.pk)
            return redirect("admin:plans_planservice_import_job", pk=job.pk)
        result = self.process_dataset(dataset, confirm_form, request, **kwargs)
        storage.remove()
        if result.has_errors() or result.has_validation_errors():
            form = self.get_import_form_class(request)(self.get_import_formats(),
                                                       self.get_import_resource_classes(request), actor=request.user)
            context = {**self.get_import_context_data(), **self.admin_site.each_context(request),
                       "title": _("Import"), "opts": self.model._meta,
                       "form": form, "result": result, "import_error_display": self.import_error_display}
            return TemplateResponse(request, [self.import_template_name], context)
        return self.process_result(result, request)

    def import_job_view(self, request, pk):
        """A background import's progress (the page refreshes itself until the job ends), then its result.
        Only the operator who started it sees it (and the platform operator)."""
        from django.http import Http404, JsonResponse

        from .models import PlanImportJob

        jobs = PlanImportJob.objects.select_related("service")
        if not is_platform(request.user):
            jobs = jobs.filter(actor=request.user)
        job = jobs.filter(pk=pk).first()
        if job is None:
            raise Http404
        if request.GET.get("format") == "json":
            return JsonResponse({"state": job.state, "total_rows": job.total_rows, "checked_rows": job.checked_rows,
                                 "percent": job.percent, "finished": job.finished, "result": job.result})
        context = {**self.admin_site.each_context(request), "title": _("Importing “%(file)s”") % {
            "file": job.file_name or _("a file")}, "opts": self.opts, "job": job}
        return TemplateResponse(request, "admin/plans/planservice/import_job.html", context)

    # --- transfers between plans ---

    @admin.action(description=gettext_lazy("Export the selected services to other plans…"))
    def export_to_plans(self, request, queryset):
        plans = {row.plan_id for row in queryset}
        if len(plans) != 1:
            self.message_user(request, _("Choose services of one plan to export (filter the list by plan)."),
                              messages.ERROR)
            return None
        source = queryset.first().plan
        return _transfer_view(self, request, queryset, direction="export", sources=[source],
                              names=sorted(queryset.values_list("name", flat=True)))

    @admin.action(description=gettext_lazy("Import the selected services into a plan…"))
    def import_into_plan(self, request, queryset):
        return _transfer_view(self, request, queryset, direction="import",
                              sources=list(Plan.objects.filter(pk__in=queryset.values("plan_id")).order_by("name")),
                              names=sorted(set(queryset.values_list("name", flat=True))))


def _transfer_view(model_admin, request, queryset, *, direction: str, sources: list, names):
    """The two-step page behind the import/export actions: choose the target(s) and the mode, see
    what will change per target, confirm; then the operation runs and the counts are shown."""
    actor = request.user
    service_ids = {p.service_id for p in sources}
    if len(service_ids) != 1:
        model_admin.message_user(request, _("Choose plans of one service."), messages.ERROR)
        return None
    plans = plans_manageable_by(actor).filter(service_id=next(iter(service_ids)))
    if direction == "export":
        plans = plans.exclude(pk=sources[0].pk)
    else:
        plans = plans.exclude(pk__in=[p.pk for p in sources])
    form = TransferForm(request.POST if "transfer_step" in request.POST else None, plans=plans.order_by("name"),
                        direction=direction)
    previews = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            if direction == "import":
                target = data["target"]
                if request.POST.get("transfer_step") == "confirm":
                    counts = operations.import_plan_services(actor=actor, plan=target, source_plans=sources,
                                                             names=names, delete_existing=data["delete_existing"])
                    model_admin.message_user(request, _("Imported into “%(plan)s”: %(added)d added, %(kept)d kept, "
                                                        "%(removed)d removed.") % {"plan": target, **counts},
                                             messages.SUCCESS)
                    return None
                previews = [operations.preview_import(actor=actor, plan=target, source_plans=sources, names=names,
                                                      delete_existing=data["delete_existing"])]
            else:
                targets = list(data["targets"])
                if request.POST.get("transfer_step") == "confirm":
                    result = operations.export_plan_services(actor=actor, plan=sources[0], target_plans=targets,
                                                             names=names, mode=data["mode"])
                    by_id = {t.pk: t.name for t in targets}
                    summary = "; ".join(_("%(plan)s: %(added)d added, %(replaced)d replaced, %(kept)d kept, "
                                          "%(removed)d removed") % {"plan": by_id[pk], **c} for pk, c in result.items())
                    model_admin.message_user(request, _("Exported (%(mode)s) — %(summary)s.") % {
                        "mode": dict(form.fields["mode"].choices).get(data["mode"], data["mode"]), "summary": summary},
                        messages.SUCCESS)
                    return None
                previews = operations.preview_export(actor=actor, plan=sources[0], target_plans=targets,
                                                     names=names, mode=data["mode"])
        except DomainError as exc:
            add_domain_error(form, exc)
            previews = None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Import services into a plan") if direction == "import" else _("Export services to other plans"),
        "opts": model_admin.opts, "form": form, "direction": direction, "sources": sources, "names": names,
        "previews": previews, "queryset": queryset, "action": request.POST.get("action"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/plans/transfer.html", context)


# --- catalogues -----------------------------------------------------------------------------------

@admin.register(CatalogueService)
class CatalogueServiceAdmin(OutOfScopeIs404, OperationAdminMixin, admin.ModelAdmin):
    """The service catalogue. Global names are seeded; top users add ``Apps: <name>`` for their service."""

    list_display = ("name", "type", "description", "service")
    list_select_related = ("service",)
    list_filter = ("type", service_filter("service"))
    search_fields = ("name",)
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = ("name", "description", "service")

    def get_queryset(self, request):
        return catalogue_visible_to(request.user)

    def has_module_permission(self, request):
        return rights.may_read_plans(request.user)

    def has_view_permission(self, request, obj=None):
        return rights.may_read_plans(request.user)

    def has_add_permission(self, request):
        return rights.may_manage_plans(request.user) \
            and not _blocked(request)

    def has_change_permission(self, request, obj=None):
        return False  # names are referenced by plans and charges: entries are never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return self.fields if is_platform(request.user) else ("name", "description")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "name" in form.base_fields:
            form.base_fields["name"].help_text = _("The application's name; it is listed as “%(prefix)s<name>”.") % {
                "prefix": APP_PREFIX}
        if "service" in form.base_fields:
            form.base_fields["service"].queryset = form.base_fields["service"].queryset.filter(
                parent__isnull=True)
            form.base_fields["service"].required = True

        class AppServiceForm(form):
            def _post_clean(self):
                """No model validation: ``add_app_service`` checks the entry (the admin's ``perform``)."""

        return AppServiceForm

    def perform(self, request, form, formsets, change):
        actor = request.user
        service = form.cleaned_data.get("service") if is_platform(actor) else actor.account.service
        return operations.add_app_service(actor=actor, service=service, name=form.cleaned_data["name"],
                                          description=form.cleaned_data.get("description", ""))


class PlatformCatalogueAdmin(admin.ModelAdmin):
    """Global catalogues kept by the platform operator; everyone who manages plans may read them."""

    search_fields = ("name",)
    list_per_page = 100

    def has_module_permission(self, request):
        return rights.may_read_plans(request.user)

    def has_view_permission(self, request, obj=None):
        return rights.may_read_plans(request.user)

    def has_add_permission(self, request):
        return is_platform(request.user)

    def has_change_permission(self, request, obj=None):
        return is_platform(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_platform(request.user)


@admin.register(DeviceType)
class DeviceTypeAdmin(PlatformCatalogueAdmin):
    list_display = ("name",)


@admin.register(Modem)
class ModemAdmin(PlatformCatalogueAdmin):
    list_display = ("name", "limit_by_plans")
    list_filter = ("limit_by_plans",)
    filter_horizontal = ("plans",)


@admin.register(PlanEvent)
class PlanEventAdmin(ReadOnlyAdminMixin, OutOfScopeIs404, admin.ModelAdmin):
    """The plans' history: read-only for everyone."""

    list_display = ("at", "action", "plan_name", "actor_name", "service", "details")
    list_select_related = ("service",)
    list_filter = ("action", service_filter("service"))
    search_fields = ("plan_name", "actor_name")
    list_per_page = 100
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return plan_events_visible_to(request.user)

    def has_module_permission(self, request):
        return rights.may_manage_plans(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)
