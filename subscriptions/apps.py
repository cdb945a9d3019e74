from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Catalog and subscriptions"

    def ready(self):
        # A cached access token carries its user's customer: a customer linked to a user, changed
        # or deleted, is seen by that user's next request (checkout_project.api.token_cache).
        customer = self.get_model("Customer")
        post_save.connect(customer_changed, sender=customer, dispatch_uid="subscriptions.customer_saved")
        post_delete.connect(customer_changed, sender=customer, dispatch_uid="subscriptions.customer_deleted")


def customer_changed(sender, instance, **kwargs) -> None:
    from checkout_project.api.token_cache import forget_tokens_where

    if instance.user_id is not None:
        forget_tokens_where(user_id=instance.user_id)
