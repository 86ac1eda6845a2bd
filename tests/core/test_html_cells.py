"""``core.html`` writes what Django's ``conditional_escape`` and ``format_html`` write, without their per-call
overhead (the codes window's cells use it)."""

from hypothesis import given
from hypothesis import strategies as st
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy

from apps.core.html import escaped, format_cell

VALUES = st.one_of(st.text(), st.text().map(mark_safe), st.integers(), st.none(), st.floats(allow_nan=False),
                   st.just(gettext_lazy("Active, unassigned")), st.just("<b>'&\"</b>"))


@given(VALUES)
def test_escaped_is_conditional_escape(value):
    assert escaped(value) == str(conditional_escape(value))


@given(st.lists(VALUES, min_size=1, max_size=4))
def test_format_cell_is_format_html(values):
    template = "<td>" + "|".join("{}" for _ in values) + "</td>"
    made = format_cell(template, *values)
    assert isinstance(made, SafeString)
    assert made == format_html(template, *values)
