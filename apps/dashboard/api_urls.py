from django.urls import path

from . import api

urlpatterns = [
    path("dashboard/", api.DashboardView.as_view(), name="dashboard"),
    path("codes/forecast/", api.ForecastView.as_view(), name="codes-forecast"),
]
