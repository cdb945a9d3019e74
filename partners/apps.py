from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner organisations"

    def ready(self):
        # Partner baskets are re-validated for their partner, and the subscriptions they create
        # put under it, without baskets importing partners.
        from baskets import hooks
        from partners.selectors import check_partner_catalog
        from partners.services import partner_basket_completed

        hooks.register_validation_check(check_partner_catalog)
        hooks.register_completion_hook(partner_basket_completed)
