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
    obj)`` when it has one (the platform operator's accounts name their service)."""

    def serialize_result(self, obj, to_field_name):
        label = getattr(self.model_admin, "picker_label", None)
        return {"id": str(getattr(obj, to_field_name)), "text": label(self.request, obj) if label else str(obj)}


def install(site) -> None:
    """Serve ``site``'s autocomplete with ``PickerJsonView`` (called from ``CoreConfig.ready``)."""
    site.autocomplete_view = lambda request: PickerJsonView.as_view(admin_site=site)(request)


class PickerSelect(AutocompleteSelect):
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
