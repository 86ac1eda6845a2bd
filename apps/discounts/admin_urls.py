from django.contrib import admin
from django.urls import path

from .views import discount_module_view, recalculate_view

urlpatterns = [
    path("discounts/module/", admin.site.admin_view(discount_module_view), name="discount_module"),
    path("discounts/module/recalculate/", admin.site.admin_view(recalculate_view), name="discount_module_recalculate"),
]
