from django.apps import AppConfig


class BasketsConfig(AppConfig):
    name = "baskets"
    verbose_name = "Baskets"
