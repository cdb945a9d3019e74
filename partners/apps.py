from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner organisations"

    def ready(self):
        # Partner baskets are re-validated for their partner, and the subscriptions they create
        # put under it, without baskets (or subscriptions) importing partners.
        from baskets import hooks
        from partners.selectors import check_partner_catalog, partner_catalog_restriction
        from partners.services import partner_basket_completed
        from subscriptions import hooks as catalog_hooks

        hooks.register_validation_check(check_partner_catalog)
        hooks.register_completion_hook(partner_basket_completed)
        # A partner token reads only the offers its organisation may sell (GET /api/catalog/offers).
        catalog_hooks.register_catalog_restriction(partner_catalog_restriction)
