"""``{% dashboard_panel %}``: the dashboard at the top of the admin home (templates/admin/index.html)."""

from django import template

register = template.Library()


@register.inclusion_tag("admin/dashboard/panel.html", takes_context=True)
def dashboard_panel(context):
    from ..views import panel_context

    request = context.get("request")
    return panel_context(request) if request is not None else {}
