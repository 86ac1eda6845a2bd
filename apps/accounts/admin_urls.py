"""The accounts app's own admin pages (included before the admin's own URLs)."""

from django.contrib import admin
from django.urls import path

from . import audit_views, views

urlpatterns = [
    path("language/", admin.site.admin_view(views.language_view), name="operator-language"),
    path("audit/", admin.site.admin_view(audit_views.audit_log_view), name="audit-log"),
]
