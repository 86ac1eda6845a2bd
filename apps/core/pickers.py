"""Searchable pickers: the admin's own autocomplete (select2 over ``/admin/autocomplete/``), scoped.

A page never renders a ``<select>`` of every account or unit in scope: a picker shows the chosen value
only and asks the autocomplete endpoint as the operator types, 20 rows a page.

Every picker is registered here by name with the rows it may offer (``rows(request, qs)``, narrowing the
target admin's ``get_queryset``, which is already the viewer's scope). A ``ModelAdmin``'s
``autocomplete_fields`` are named after their source field (``"units.unit.account"``); the pickers of
the custom pages (code log, Apply, the bulk actions, the check tool) name themselves in their URL
(``?picker=codes.apply``, see ``PickerSelect``). The target admin (``ScopedPickerMixin``) answers only
a registered picker of its own model: any other ``app_label/model_name/field_name`` gets no rows, so the
endpoint cannot be used to list more than the page that asked would have offered.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.urls import reverse
from django.utils.http import urlencode

PICKER_VAR = "picker"


@dataclass(frozen=True)
class Picker:
    name: str
    model: type[Model]  # the model picked (the target admin's)
    rows: Callable[[object, QuerySet], QuerySet] | None = None  # narrows the scoped rows; None: all of them
    may_use: Callable[[object], bool] | None = None  # who may ask; None: the target admin's view permission


PICKERS: dict[str, Picker] = {}


def register_picker(name: str, model: type[Model], rows=None, may_use=None) -> Picker:
    picker = Picker(name, model, rows, may_use)
    PICKERS[name] = picker
    return picker


def asked_picker(request) -> Picker | None | bool:
    """On an autocomplete request, the picker it names (None when it names none registered); False on
    any other request."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != "autocomplete":
        return False
    name = request.GET.get(PICKER_VAR) or ".".join(
        request.GET.get(key, "") for key in ("app_label", "model_name", "field_name"))
    return PICKERS.get(name)


class ScopedPickerMixin:
    """For the admin of a picked model (accounts, units): the autocomplete's rows are this admin's scoped
    ``get_queryset`` narrowed by the registered picker the request names, in the admin's order; an
    unregistered picker gets none."""

    def _picker(self, request) -> Picker | None | bool:
        picker = asked_picker(request)
        if picker and picker.model is not self.model:
            return None
        return picker

    def has_view_permission(self, request, obj=None):
        picker = self._picker(request)
        if picker and obj is None and picker.may_use is not None:
            return picker.may_use(request.user)
        return super().has_view_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        picker = self._picker(request)
        if picker is False:
            return super().get_search_results(request, queryset, search_term)
        if picker is None:
            return queryset.none(), False
        if picker.rows is not None:
            queryset = picker.rows(request, queryset)
        if not queryset.ordered:
            queryset = queryset.order_by(*(self.get_ordering(request) or ("pk",)))
        return super().get_search_results(request, queryset, search_term)


class PickerJsonView(AutocompleteJsonView):
    """The admin's autocomplete endpoint, each row labelled by the target admin's ``picker_label(request,
    obj)`` when it has one (the platform operator's accounts name their service). A target admin with
    ``prime_picker_labels(request, rows)`` reads what the page's labels need at once, not a query per row."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        prime = getattr(self.model_admin, "prime_picker_labels", None)
        if prime is not None:
            prime(self.request, list(context["object_list"]))  # the page's rows, read once
        return context

    def serialize_result(self, obj, to_field_name):
        label = getattr(self.model_admin, "picker_label", None)
        return {"id": str(getattr(obj, to_field_name)), "text": label(self.request, obj) if label else str(obj)}


def install(site) -> None:
    """Serve ``site``'s autocomplete with ``PickerJsonView`` (called from ``CoreConfig.ready``)."""
    site.autocomplete_view = lambda request: PickerJsonView.as_view(admin_site=site)(request)


def _takeable(widget, values):
    """The submitted values the picked model's key can hold: a bound form redisplays what was posted, and
    ``?account=x`` must be the form's "Select a valid choice", not a 500 from ``pk__in=['x']``."""
    key = widget.field.remote_field.model._meta.get_field(widget.field.remote_field.field_name)
    kept = []
    for value in values:
        try:
            key.to_python(value)
        except (ValidationError, TypeError, ValueError):
            continue
        kept.append(value)
    return kept


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, redisplaying a posted value the key cannot hold as nothing chosen (the
    form says why) instead of a 500: Django's own widget filters ``pk__in`` with the raw values."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, _takeable(self, value), attr)


def autocomplete_widget(model_admin, db_field, request, kwargs: dict) -> dict:
    """For ``formfield_for_foreignkey``: an ``autocomplete_fields`` field gets ``SafeAutocompleteSelect``."""
    if "widget" not in kwargs and db_field.name in model_admin.get_autocomplete_fields(request):
        kwargs["widget"] = SafeAutocompleteSelect(db_field, model_admin.admin_site, using=kwargs.get("using"))
    return kwargs


class PickerSelect(SafeAutocompleteSelect):
    """An autocomplete picker for a plain form (a page of its own, not a ModelAdmin form): the field is
    any foreign key to the picked model (it only tells the endpoint which admin answers), the
    ``picker`` the registered rows it offers."""

    def __init__(self, field, picker: str, attrs=None, choices=(), using=None):
        super().__init__(field, admin.site, attrs, choices, using)
        self.picker = picker

    def get_url(self):
        return f"{reverse('admin:autocomplete')}?{urlencode({PICKER_VAR: self.picker})}"


class PickerSelectMultiple(PickerSelect, AutocompleteSelectMultiple):
    pass


def picker_widget(model: type[Model], field_name: str, picker: str, *, multiple: bool = False, attrs=None):
    """The widget of a plain form's picker: ``model.field_name`` is a foreign key to the picked model."""
    field = model._meta.get_field(field_name)
    return (PickerSelectMultiple if multiple else PickerSelect)(field, picker, attrs=attrs)


def use_picker(form_field, model: type[Model], field_name: str, picker: str, *, multiple: bool = False, attrs=None):
    """Give a plain form's ``ModelChoiceField`` (or multiple) the picker widget, keeping its queryset (which
    still validates the posted value) and its required state."""
    widget = picker_widget(model, field_name, picker, multiple=multiple, attrs=attrs)
    widget.is_required = form_field.required
    form_field.widget = widget
    widget.choices = form_field.choices
    return form_field


class PickerListFilter(admin.SimpleListFilter):
    """A list filter whose choice is a searchable picker (a GET form: pick, then "Filter"), never a list of
    every account in scope. ``picker`` names the registered rows offered, ``source`` a foreign key to the
    picked model (``(Model, "field")``, for the endpoint), ``lookup`` what the list filters on.
    ``fixed_choices`` are plain links shown above the picker (e.g. "Not shared")."""

    template = "admin/picker_filter.html"
    picker: str = ""
    source: tuple[type[Model], str] = ()
    lookup: str = ""

    def __init__(self, request, params, model, model_admin):
        self.request = request
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return self.fixed_choices(request)

    def fixed_choices(self, request) -> list[tuple[str, str]]:
        return []

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        from .admin import id_value

        if self.value() in {str(value) for value, _ in self.lookup_choices}:
            return self.fixed_queryset(request, queryset, self.value())
        value = id_value(self.value(), str(self.title))
        return queryset if value is None else queryset.filter(**{self.lookup: value})

    def fixed_queryset(self, request, queryset, value):
        return queryset

    def picker_html(self):
        from django import forms

        model, field_name = self.source
        target = model._meta.get_field(field_name).related_model
        target_admin = admin.site.get_model_admin(target)
        field = forms.ModelChoiceField(queryset=target_admin.get_queryset(self.request), required=False)
        label = getattr(target_admin, "picker_label", None)
        if label is not None:
            field.label_from_instance = lambda obj: label(self.request, obj)
        use_picker(field, model, field_name, self.picker, attrs={"style": "width: 100%",
                                                                 "aria-label": str(self.title)})
        fixed = {str(value) for value, _ in self.lookup_choices}
        value = self.value() if self.value() not in fixed and (self.value() or "").isdigit() else None
        return field.widget.render(self.parameter_name, value)

    def choices(self, changelist):
        skip = {self.parameter_name, "p", "cursor", "e"}
        keep = [(key, value) for key, values in changelist.params.items() if key not in skip
                for value in (values if isinstance(values, list) else [values])]
        yield {"fixed": [{"display": label, "selected": self.value() == str(value),
                          "query_string": changelist.get_query_string({self.parameter_name: value})}
                         for value, label in self.lookup_choices],
               "picker": self.picker_html(), "keep": keep, "chosen": self.value() is not None,
               "clear_url": changelist.get_query_string(remove=[self.parameter_name])}


class PickerFiltersMixin:
    """For a ModelAdmin with ``PickerListFilter``s: the select2 scripts and styles on its list page."""

    @property
    def media(self):
        media = super().media
        for list_filter in self.list_filter:
            if isinstance(list_filter, type) and issubclass(list_filter, PickerListFilter):
                model, field_name = list_filter.source
                media += AutocompleteSelect(model._meta.get_field(field_name), admin.site).media
        return media
