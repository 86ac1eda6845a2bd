"""CSV and XLSX import/export of plan services (django-import-export).

Columns: plan, name, type, interval, cost table, description. The ``plan`` column is a plan name in
the service chosen on the import form. Every row is validated by ``operations.clean_service_row``
during the preview, so the preview lists every bad row with its reason and the admin offers no
confirmation while any row is bad; rows are written by the operations (``do_instance_save``), and
``sync`` removes, per plan named in the file, the rows the file does not list.
"""

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from apps.core.admin import FORMULA_PREFIXES, escape_cell
from apps.core.errors import DomainError

from . import operations
from .models import Plan, PlanService


class PlanByNameWidget(widgets.ForeignKeyWidget):
    """A plan named in the file, looked up in one service only."""

    def __init__(self, service_id=None):
        super().__init__(Plan, field="name")
        self.service_id = service_id

    def get_queryset(self, value, row, *args, **kwargs):
        return Plan.objects.filter(service_id=self.service_id)

    def clean(self, value, row=None, **kwargs):
        name = (value or "").strip()
        if not name:
            raise ValueError("A plan name is required.")
        try:
            return self.get_queryset(value, row).get(name=name)
        except Plan.DoesNotExist:
            raise ValueError(f"No plan named '{name}' in this service.") from None

    def render(self, value, obj=None, **kwargs):
        return escape_cell(value.name if value else "")


class TextWidget(widgets.CharWidget):
    """Text cells: formula-looking values escaped on export, the escape removed again on import."""

    def clean(self, value, row=None, **kwargs):
        text = "" if value is None else str(value).strip()
        if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
            text = text[1:]
        return text

    def render(self, value, obj=None, **kwargs):
        return escape_cell(value)


class PlanServiceResource(resources.ModelResource):
    plan = fields.Field(attribute="plan", column_name="plan", widget=PlanByNameWidget())
    name = fields.Field(attribute="name", column_name="name", widget=TextWidget())
    type = fields.Field(attribute="type", column_name="type", widget=TextWidget())
    interval = fields.Field(attribute="interval", column_name="interval", widget=TextWidget())
    cost_table = fields.Field(attribute="cost_table", column_name="cost table", widget=TextWidget())
    description = fields.Field(attribute="description", column_name="description", widget=TextWidget())

    class Meta:
        model = PlanService
        fields = ("plan", "name", "type", "interval", "cost_table", "description")
        export_order = fields
        import_id_fields = ("plan", "name")
        skip_unchanged = True
        report_skipped = True
        use_bulk = False

    def __init__(self, *, actor=None, service=None, mode="add", **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        self.service = service
        self.mode = mode
        self.fields["plan"].widget.service_id = service.pk if service is not None else None
        self._catalogue = operations.catalogue_types(service.pk) if service is not None else {}
        self._names_by_plan: dict[int, set[str]] = {}
        self.sync_removed: dict[str, list[str]] = {}

    def get_queryset(self):
        qs = PlanService.objects.select_related("plan")
        return qs.filter(plan__service=self.service) if self.service is not None else qs

    def get_instance(self, instance_loader, row):
        """A row naming no plan of the service is a new row here, so the plan column's error is reported
        with the row's other errors instead of aborting the preview."""
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            return None

    def import_instance(self, instance, row, **kwargs):
        """Fill the row, then validate it as the API would; errors become per-field messages."""
        super().import_instance(instance, row, **kwargs)
        try:
            if not operations.may_manage_plan(self.actor, instance.plan):
                raise ValidationError({"plan": f"You may not change the plan '{instance.plan.name}'."})
            clean = operations.clean_service_row(service_id=self.service.pk, values={
                "name": instance.name, "type": instance.type, "interval": instance.interval,
                "cost_table": instance.cost_table, "description": instance.description}, catalogue=self._catalogue)
        except DomainError as exc:
            raise ValidationError({name: reasons for name, reasons in (exc.fields or {"name": [exc.detail]}).items()
                                   if name in self.Meta.fields} or exc.detail) from None
        listed = self._names_by_plan.setdefault(instance.plan.pk, set())
        if clean["name"] in listed:
            raise ValidationError({"name": f"'{clean['name']}' appears twice for plan '{instance.plan.name}'."})
        listed.add(clean["name"])
        for key, value in clean.items():
            setattr(instance, key, value)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if self.mode == "add" and original is not None and original.pk:
            return True  # add only: the plan keeps its own row
        return super().skip_row(instance, original, row, import_validation_errors)

    def do_instance_save(self, instance, is_create):
        values = {k: getattr(instance, k) for k in operations.SERVICE_ROW_FIELDS}
        row, _ = operations.save_imported_row(actor=self.actor, plan=instance.plan, values=values)
        instance.pk = row.pk

    def after_import(self, dataset, result, **kwargs):
        """``sync``: each plan named in the file keeps exactly the rows the file lists for it."""
        super().after_import(dataset, result, **kwargs)
        if self.mode != "sync" or result.has_errors() or result.has_validation_errors():
            return
        for plan in Plan.objects.filter(pk__in=self._names_by_plan).order_by("name"):
            removed = operations.remove_services_not_in(actor=self.actor, plan=plan,
                                                        keep_names=self._names_by_plan[plan.pk])
            if removed:
                self.sync_removed[plan.name] = removed
        result.sync_removed = self.sync_removed
