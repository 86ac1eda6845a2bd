from django.apps import AppConfig


class DiscountsConfig(AppConfig):
    name = "apps.discounts"
    label = "discounts"
