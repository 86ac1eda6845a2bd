from django.apps import AppConfig


class CodesConfig(AppConfig):
    name = "apps.codes"
    label = "codes"
