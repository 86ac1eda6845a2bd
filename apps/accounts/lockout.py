"""The page shown when django-axes locks a sign-in out (too many failed logins of one username from one
address): the admin's look, the wait in minutes, status 429."""

import math

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from axes.helpers import get_client_username, get_cool_off


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    context = {**admin.site.each_context(request), "title": _("Too many failed sign-ins"),
               "username": get_client_username(request, credentials) or "", "minutes": minutes}
    response = TemplateResponse(request, "admin/accounts/lockout.html", context, status=429)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response.render()
