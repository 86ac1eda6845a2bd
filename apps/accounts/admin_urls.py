"""The accounts app's own admin pages, under /admin/… (included before the admin's own URLs)."""

from django.contrib import admin
from django.urls import path

from . import audit_views

urlpatterns = [
    path("audit/", admin.site.admin_view(audit_views.audit_log_view), name="audit-log"),
]
