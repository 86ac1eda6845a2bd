from django.contrib import admin
from django.urls import path

from . import admin_views

urlpatterns = [
    path("accounts/account/<int:pk>/services/", admin.site.admin_view(admin_views.account_services_view),
         name="admin-account-services"),
    path("accounts/account/<int:pk>/overrides/", admin.site.admin_view(admin_views.account_overrides_view),
         name="admin-account-overrides"),
    path("services/check/", admin.site.admin_view(admin_views.check_tool_view), name="services-check"),
    path("services/replay/", admin.site.admin_view(admin_views.replay_view), name="services-replay"),
]
