"""Template tags for admin pages outside the codes app: the expiry-notice banner and the codes links."""

from django import template

from apps.accounts import rights
from apps.codes.admin import admin_index_links
from apps.codes.views import banner_context

register = template.Library()


@register.inclusion_tag("admin/codes/_notices_banner.html", takes_context=True)
def codes_notice_banner(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"expiry_notices": []}
    return {**banner_context(request), "request": request}


@register.inclusion_tag("admin/codes/_links.html", takes_context=True)
def codes_links(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"links": []}
    return {"links": admin_index_links(request), "restricted": rights.is_restricted(request.user)}
