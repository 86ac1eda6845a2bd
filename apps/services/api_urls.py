from django.urls import path

from . import api

urlpatterns = [
    path("accounts/<int:pk>/services/", api.AccountServicesView.as_view(), name="account-services"),
    path("accounts/<int:pk>/services/<str:name>/", api.AccountServiceOverrideView.as_view(),
         name="account-service-override"),
    path("accounts/<int:pk>/check/", api.CheckView.as_view(), name="account-check"),
    path("accounts/<int:pk>/consume/", api.ConsumeView.as_view(), name="account-consume"),
    path("accounts/<int:pk>/objects/", api.ObjectsView.as_view(), name="account-objects"),
    path("accounts/<int:pk>/replay/", api.ReplayView.as_view(), name="account-replay"),
]
