from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo and benchmark data (``manage.py load_demo``): the top layer, since it drives every app."""

    name = "apps.demo"
    label = "demo"
