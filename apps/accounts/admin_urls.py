"""The accounts app's own admin pages (included before the admin's own URLs)."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("language/", admin.site.admin_view(views.language_view), name="operator-language"),
]
