from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "checkout_project.api"
    label = "api"
    verbose_name = "API clients"

    def ready(self):
        from checkout_project.api import token_cache

        token_cache.connect()
