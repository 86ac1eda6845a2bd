"""``{% if user|may:"see_jobs" %}``: a named check of ``apps.core.rights`` in a template."""

from django import template

from apps.core import rights

register = template.Library()


@register.filter
def may(user, name: str) -> bool:
    return rights.allows(name, user)
