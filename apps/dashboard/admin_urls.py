"""The dashboard's own admin pages (the home panel itself is drawn on the admin's index page)."""

from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/forecast/", admin.site.admin_view(views.forecast_view), name="dashboard-forecast"),
    path("dashboard/forecast.csv", admin.site.admin_view(views.forecast_csv_view), name="dashboard-forecast-csv"),
]
