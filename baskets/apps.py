from django.apps import AppConfig
from django.core import checks


class BasketsConfig(AppConfig):
    name = "baskets"
    verbose_name = "Baskets"

    def ready(self) -> None:
        from baskets.checks import site_url_check

        checks.register(site_url_check, checks.Tags.compatibility, deploy=True)
