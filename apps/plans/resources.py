"""CSV and XLSX import/export of plan services (django-import-export).

Columns: plan, name, type, interval, cost table, description (``type`` may be left out: the
catalogue implies it; a file missing any other column is refused). The ``plan`` column is a plan
name in the service chosen on the import form. import-export reads the file and draws the pages;
the rows are checked and written as a whole, set-based, by ``operations.check_file_rows`` (the
preview: every row's outcome, every bad row with its reasons, no confirmation while any row is bad)
and ``operations.import_file_rows`` (all or nothing; ``sync`` removes, per plan named in the file,
the rows the file does not list). Files above ``tasks.BACKGROUND_ROWS`` rows are imported by a
Celery task (``apps.plans.tasks``).
"""

from django.core.exceptions import ValidationError
from django.utils.html import conditional_escape, format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from import_export import fields, resources, widgets
from import_export.results import RowResult

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
            raise ValueError(_("A plan name is required."))
        try:
            return self.get_queryset(value, row).get(name=name)
        except Plan.DoesNotExist:
            raise ValueError(_("No plan named '%(name)s' in this service.") % {"name": name}) from None

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

    def __init__(self, *, actor=None, service=None, mode="add", **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        self.service = service
        self.mode = mode
        self.fields["plan"].widget.service_id = service.pk if service is not None else None

    def get_queryset(self):
        qs = PlanService.objects.select_related("plan")
        return qs.filter(plan__service=self.service) if self.service is not None else qs

    # --- import: the whole file at once, set-based (operations.check_file_rows / import_file_rows) ---

    def file_rows(self, dataset) -> list[tuple[int, dict]]:
        """The data rows as ``(number, {column: text})``, header names trimmed and lower-cased, formula
        escapes removed."""
        headers = [str(h or "").strip().lower() for h in dataset.headers or ()]
        clean = _CELL.clean
        return [(number, {h: clean(v) for h, v in zip(headers, values) if h})
                for number, values in enumerate(dataset, 1)]

    def file_error(self, dataset) -> str | None:
        """Why the file as a whole cannot be read as plan services (a missing column, too many rows)."""
        missing = operations.missing_file_columns(dataset.headers)
        if missing:
            found = ", ".join(f"“{h}”" for h in (dataset.headers or ()) if str(h or "").strip()) or _("none")
            return ngettext("The file has no column %(missing)s (found: %(found)s). Required columns: %(required)s.",
                            "The file has no columns %(missing)s (found: %(found)s). Required columns: %(required)s.",
                            len(missing)) % {
                "missing": ", ".join(f"“{c}”" for c in missing), "found": found,
                "required": ", ".join(f"“{c}”" for c in operations.FILE_REQUIRED_COLUMNS)}
        headers = [str(h or "").strip().lower() for h in dataset.headers or ()]
        twice = sorted({h for h in headers if h and headers.count(h) > 1})
        if twice:
            return _("The file has the column %(columns)s more than once.") % {
                "columns": ", ".join(f"“{c}”" for c in twice)}
        if len(dataset) > MAX_FILE_ROWS:
            return _("The file has %(rows)s rows; at most %(max)s are read at once. Split the file.") % {
                "rows": len(dataset), "max": MAX_FILE_ROWS}
        if self.service is None:
            return _("Choose the service whose plans the file names.")
        return None

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, progress=None, **kwargs):
        """The preview (``dry_run``) checks every row without writing; the import writes through
        ``operations.import_file_rows`` (all or nothing). Either answers import-export's ``Result``, so the
        admin's pages show every row's outcome and every bad row with its reasons."""
        result = self.get_result_class()()
        result.diff_headers = list(operations.FILE_COLUMNS)
        result.total_rows = len(dataset)
        result.sync_removed = {}
        error = self.file_error(dataset)
        if error:
            result.append_base_error(self.get_error_result_class()(ValidationError(error)))
            return result
        rows = self.file_rows(dataset)
        try:
            if dry_run:
                check = operations.check_file_rows(actor=self.actor, service=self.service, rows=rows, mode=self.mode,
                                                   progress=progress)
            else:
                check = operations.import_file_rows(actor=self.actor, service=self.service, rows=rows,
                                                    mode=self.mode, progress=progress)
        except DomainError as exc:
            check = getattr(exc, "check", None)
            if check is None:
                result.append_base_error(self.get_error_result_class()(ValidationError(exc.detail)))
                return result
        return fill_result(result, check)


_CELL = TextWidget()
MAX_FILE_ROWS = 20_000  # a preview (synchronous) stays well inside a web worker's 30 s; see docs/decisions.md
_COLUMN_OF = {"plan": "plan", "name": "name", "type": "type", "interval": "interval", "cost_table": "cost table",
              "description": "description"}


def _diff_cells(row) -> list[str]:
    """One cell per column: the value, or for a changed row the old value struck out beside the new."""
    cells = []
    for column in operations.FILE_COLUMNS:
        if column == "plan":
            cells.append(conditional_escape(row.plan.name))
            continue
        key = _COLUMN_OF_FIELD[column]
        new = row.clean[key]
        old = row.before[key] if row.before is not None and row.outcome == "update" else new
        cells.append(format_html("<del>{}</del> <ins>{}</ins>", old, new) if old != new else conditional_escape(new))
    return cells


_COLUMN_OF_FIELD = {column: field for field, column in _COLUMN_OF.items()}


def fill_result(result, check: operations.FileCheck):
    """import-export's ``Result`` from a checked file: each row's outcome (with a diff for the changed
    cells), every bad row with its reasons under its columns, and ``sync_removed``."""
    for row in check.rows:
        row_result = RowResult()
        if row.errors:
            row_result.import_type = RowResult.IMPORT_TYPE_INVALID
            row_result.validation_error = ValidationError(
                {_COLUMN_OF.get(name, name): reasons for name, reasons in row.errors.items()})
            result.append_invalid_row(row.number, row.cells, row_result.validation_error)
        else:
            row_result.import_type = row.outcome
            row_result.diff = _diff_cells(row)
        result.increment_row_result_total(row_result)
        result.append_row_result(row_result)
    result.sync_removed = check.removed
    return result
