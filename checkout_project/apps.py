from django.apps import AppConfig


class CheckoutProjectConfig(AppConfig):
    """The project itself as an app, for its project-level management commands (seed_demo)."""

    name = "checkout_project"
    label = "checkout_project"  # checkout_project.api is "api"
    verbose_name = "Checkout project"
