"""The admin index entry of the discount module: a proxy whose list page is the module page."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from apps.core.admin import ReadOnlyAdminMixin

from . import queries
from .models import DiscountModule


@admin.register(DiscountModule)
class DiscountModuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shown to top users of a service with the discount on, and to the platform operator."""

    def _may_open(self, request) -> bool:
        return queries.discount_services_visible_to(request.user).exists()

    def has_module_permission(self, request):
        return self._may_open(request)

    def has_view_permission(self, request, obj=None):
        return obj is None and self._may_open(request)

    def changelist_view(self, request, extra_context=None):
        return redirect(reverse("discount_module"))
