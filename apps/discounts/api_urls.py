from django.urls import path

from . import api

urlpatterns = [
    path("discount/", api.DiscountView.as_view(), name="discount"),
    path("discount/accounts/", api.DiscountAccountsView.as_view(), name="discount-accounts"),
    path("discount/units/", api.DiscountUnitsView.as_view(), name="discount-units"),
    path("discount/advice/", api.DiscountAdviceView.as_view(), name="discount-advice"),
    path("discount/history/", api.DiscountHistoryView.as_view(), name="discount-history"),
]
