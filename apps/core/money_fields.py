"""Form and serializer fields for amounts: thin adapters over ``money.parse_money``, the one strict parser.

Every money input (payments, opening payments, block and deny balances) uses these, so ``1e3``,
``NaN``, ``+1``, `` 1`` and non-ASCII digits (``١٢``, ``１２``) are refused the same way in the admin
and the API, with the parser's reason under the field.
"""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .money import (AMOUNT_PATTERN, MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, MoneyError, format_money_input,
                    parse_localized_money, parse_money)


class MoneyFormField(forms.Field):
    """An amount in an admin form: text in the active language's format (``1 234,50`` in French), shown
    as it is read back, parsed strictly (empty → None). The API keeps its one syntax (``1234.50``)."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        # What ``models.DecimalField.formfield`` passes along: the parser knows the limits itself.
        for ignored in ("max_digits", "decimal_places", "max_length", "min_value", "max_value", "step_size"):
            kwargs.pop(ignored, None)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_localized_money(value)
        except MoneyError as error:
            raise ValidationError(error.reason, code="invalid") from None

    def prepare_value(self, value):
        """A stored amount in the language's format; what was typed (a bound form) stays as typed."""
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return format_money_input(value)
        return value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if isinstance(widget, forms.TextInput):
            attrs.update({"inputmode": "decimal", "autocomplete": "off", "size": 16})
        return attrs


@extend_schema_field({"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN,
                      "example": "12.5000"})
class MoneySerializerField(serializers.DecimalField):
    """An amount in an API body: a decimal string (API.md), parsed strictly; answered with 4 places."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_money(data)
        except MoneyError as error:
            raise serializers.ValidationError(error.reason, code="invalid") from None
