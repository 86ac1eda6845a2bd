from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def whole_percent(value) -> str:
    """Percent shown as a whole number, truncated (SPEC §8.6: 42.52 shows as 42 %)."""
    if value is None or value == "":
        return "–"
    return f"{int(Decimal(value))} %"
