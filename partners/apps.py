from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


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

        # A cached access token carries its application's partner: deactivating a partner, or
        # changing which application is whose, is seen by the next request everywhere.
        post_save.connect(partner_saved, sender=self.get_model("Partner"), dispatch_uid="partners.partner_saved")
        partner_client = self.get_model("PartnerClient")
        post_save.connect(partner_client_changed, sender=partner_client, dispatch_uid="partners.client_saved")
        post_delete.connect(partner_client_changed, sender=partner_client, dispatch_uid="partners.client_deleted")


def partner_saved(sender, instance, created: bool = False, **kwargs) -> None:
    from checkout_project.api.token_cache import forget_tokens_where

    if not created:
        forget_tokens_where(application__partner_client__partner_id=instance.pk)


def partner_client_changed(sender, instance, **kwargs) -> None:
    from checkout_project.api.token_cache import forget_tokens_where

    forget_tokens_where(application_id=instance.application_id)
