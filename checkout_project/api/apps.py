from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "checkout_project.api"
    label = "api"
    verbose_name = "API clients"
