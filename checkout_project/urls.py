from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider import urls as oauth2_urls
from oauth2_provider import views as oauth2_views
from rest_framework.routers import SimpleRouter

from baskets.api.admin_views import AdminCheckoutViewSet
from baskets.api.subscription_views import SubscriptionCheckoutViewSet
from baskets.api.views import CheckoutViewSet
from checkout_project.api.oauth_views import IntrospectTokenView

router = SimpleRouter(trailing_slash=False)
router.register("checkout", CheckoutViewSet, basename="checkout")
router.register("checkout", SubscriptionCheckoutViewSet, basename="checkout-subscription")
router.register("admin/checkout", AdminCheckoutViewSet, basename="admin-checkout")

urlpatterns = [
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The contract's token URL has no trailing slash; a POST cannot follow APPEND_SLASH's redirect.
    path("oauth2/token", oauth2_views.TokenView.as_view(), name="oauth2-token"),
    path("oauth2/introspect/", IntrospectTokenView.as_view(), name="oauth2-introspect"),
    # Only authorize, token, revoke and introspect: no self-service application management.
    path("oauth2/", include((oauth2_urls.base_urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

handler400 = "checkout_project.api.errors.handler400"
handler403 = "checkout_project.api.errors.handler403"
handler404 = "checkout_project.api.errors.handler404"
handler500 = "checkout_project.api.errors.handler500"
