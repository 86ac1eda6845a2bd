"""``{% fast_result_list cl %}``: Django's ``{% result_list cl %}`` for a big list whose columns are all the
admin's own display methods, each row written in one pass.

Django renders a row cell by cell through ``items_for_result``: for each cell it looks the name up as a model
field first (an exception per method column), wraps the value through ``display_for_value`` and ``format_html``
and, for the link, resolves the row's URL again to carry the list's filters. On the codes window that is most of
a hundred rows' rendering, and what a page costs more when it shows more rows. This tag writes the same HTML
(``tests/codes/test_fast_rows.py`` compares the two, row by row, on the codes window) and falls back to
Django's own rendering, row by row, for anything else: a model-field column, an editable list, a popup.
"""

import datetime

from django import template
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.urls import NoReverseMatch
from django.utils.safestring import mark_safe

from apps.core.html import escaped

register = template.Library()


def _plain(cl) -> bool:
    """Every column is an admin display method (or the action checkbox), nothing editable, not a popup."""
    if cl.formset is not None or cl.is_popup or cl.to_field:
        return False
    for name in cl.list_display:
        if not isinstance(name, str) or name == "__str__":
            return False
        try:
            cl.lookup_opts.get_field(name)
            return False  # a model field: Django's ``display_for_field`` decides its look
        except FieldDoesNotExist:
            pass
        if not callable(getattr(cl.model_admin, name, None)):
            return False
    return True


def fast_items_for_result(cl, result, methods, empty, numbers=None):
    """The cells of one row, as ``admin_list.items_for_result(cl, result, None)`` writes them. ``numbers``: the
    page's whole numbers already formatted in the page's language (``{value: text}``), shared by its rows."""
    numbers = {} if numbers is None else numbers
    first = True
    links = cl.list_display_links or ()
    for name, method in methods:
        classes = f"field-{name}"
        try:
            value = method(result)
        except ObjectDoesNotExist:
            text = empty
        else:
            empty_here = getattr(method, "empty_value_display", empty)
            if isinstance(value, str) and value.strip() == "":
                value = ""
            boolean = getattr(method, "boolean", False)
            if type(value) is int and not boolean:  # a count or a number of days: the same few on every row
                text = numbers.get(value)
                if text is None:
                    text = numbers[value] = display_for_value(value, empty_here)
            else:
                text = display_for_value(value, empty_here, boolean)
            if name == "action_checkbox":
                classes = "action-checkbox"
            if isinstance(value, (datetime.date, datetime.time)):
                classes += " nowrap"
        if name in links:
            tag = "th" if first else "td"
            first = False
            try:
                url = cl.url_for_result(result)
            except NoReverseMatch:
                inner = escaped(text)
            else:
                inner = f'<a href="{escaped(url)}">{escaped(text)}</a>'
            yield mark_safe(f'<{tag} class="{classes}">{inner}</{tag}>')
        else:
            yield mark_safe(f'<td class="{classes}">{escaped(text)}</td>')


def fast_results(cl):
    if cl.preserved_filters or not _plain(cl):  # a list without CappedChangeList's row links: Django's rows
        yield from admin_list.results(cl)
        return
    methods = [(name, getattr(cl.model_admin, name)) for name in cl.list_display]
    empty = cl.model_admin.get_empty_value_display()
    numbers = {}
    for row in cl.result_list:
        # One item a row, its cells already joined: ``change_list_results.html`` writes a row's items side by side
        # (``<tr>{% for item in result %}{{ item }}{% endfor %}</tr>``), so the page is the same, and the template
        # renders one value a row instead of one a cell.
        yield admin_list.ResultList(None, [mark_safe("".join(fast_items_for_result(cl, row, methods, empty,
                                                                                    numbers)))])


@register.inclusion_tag("admin/change_list_results.html")
def fast_result_list(cl):
    """The context Django's ``result_list`` gives ``change_list_results.html``, with the rows from
    ``fast_results``."""
    headers = list(admin_list.result_headers(cl))
    return {"cl": cl, "result_hidden_fields": list(admin_list.result_hidden_fields(cl)), "result_headers": headers,
            "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
            "results": list(fast_results(cl))}
