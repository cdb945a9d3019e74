from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from oauth2_provider import urls as oauth2_urls
from rest_framework.routers import SimpleRouter

from baskets import pages, unsubscribe_pages
from baskets.api.admin_views import AdminCheckoutViewSet
from baskets.api.order_views import AdminPromoCodeViewSet, OrderViewSet
from baskets.api.subscription_views import SubscriptionCheckoutViewSet
from baskets.api.views import CheckoutViewSet
from baskets.api.webhook_views import stripe_webhook
from baskets.home import home_page
from checkout_project.api.errors import require_get
from checkout_project.api.oauth_views import IntrospectTokenView, token_view
from checkout_project.api.throttling import throttle_posts
from checkout_project.health import healthz, readyz
from partners.api import PartnerCheckoutViewSet, PartnerSubscriptionCheckoutViewSet
from subscriptions.api import CatalogViewSet

API_DOCS_CSP: dict[str, list[str]] = {
    **settings.SECURE_CSP,
    "script-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
}

# Password guessing: the login forms' posts count per client IP, one counter for both forms.
throttled_login = throttle_posts("login")

router = SimpleRouter(trailing_slash=False)
router.register("checkout", CheckoutViewSet, basename="checkout")
router.register("checkout", SubscriptionCheckoutViewSet, basename="checkout-subscription")
router.register("admin/checkout", AdminCheckoutViewSet, basename="admin-checkout")
router.register("admin/v2", AdminPromoCodeViewSet, basename="admin-promo-code")
router.register("", OrderViewSet, basename="order")
router.register("partner/checkout", PartnerCheckoutViewSet, basename="partner-checkout")
router.register("partner/checkout", PartnerSubscriptionCheckoutViewSet, basename="partner-checkout-subscription")
router.register("catalog", CatalogViewSet, basename="catalog")

urlpatterns = [
    # The start page: the admin, the API docs, a demo checkout.
    path("", home_page, name="home"),
    # Load balancer probes: no auth, no throttling, no database for /healthz.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Followed from e-mails in a browser: plain views answering HTML, no OAuth (API.md §5).
    # GET only (any other method: the API's JSON 405), so no CSRF check: a POST gets that 405.
    path("api/checkout/recover", csrf_exempt(pages.recovery_link), name="checkout-recover"),
    path("api/checkout/assisted", csrf_exempt(pages.assisted_link), name="checkout-assisted"),
    path("checkout/", pages.checkout_page, name="checkout-page"),
    path("checkout/promo-code", pages.apply_promo_code, name="checkout-promo-code"),
    path("checkout/promo-code/remove", pages.remove_promo_code, name="checkout-promo-code-remove"),
    path("checkout/order", pages.place_order, name="checkout-order"),
    path("checkout/confirmation", pages.confirmation_page, name="checkout-confirmation"),
    # Recovery emails' unsubscribe link (signed address) and List-Unsubscribe one-click target.
    path("email/unsubscribe/<str:token>", unsubscribe_pages.unsubscribe, name="recovery-unsubscribe"),
    # Stripe's webhook deliveries: signed by Stripe (STRIPE_WEBHOOK_SECRET), no OAuth, no CSRF.
    path("api/webhooks/stripe", stripe_webhook, name="stripe-webhook"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's page carries an inline script and styles: a relaxed policy for this path only.
    # GET only: another method gets the API's JSON 405, not the page's HTML renderer.
    path(
        "api/docs/",
        require_get(csp_override(API_DOCS_CSP)(SpectacularSwaggerView.as_view(url_name="schema"))),
        name="docs",
    ),
    # The contract's token URL has no trailing slash; a POST cannot follow APPEND_SLASH's redirect.
    # Throttled per client IP and client id (checkout_project.api.oauth_views), with or without
    # the slash: DOT's own "oauth2/token/" below is never reached.
    path("oauth2/token", token_view, name="oauth2-token"),
    path("oauth2/token/", token_view),
    path("oauth2/introspect/", IntrospectTokenView.as_view(), name="oauth2-introspect"),
    # Only authorize, token, revoke and introspect: no self-service application management.
    path("oauth2/", include((oauth2_urls.base_urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("accounts/login/", throttled_login(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin's own login form, matched before admin.site.urls; `admin:login` still names it.
    path("admin/login/", throttled_login(admin.site.login)),
    path("admin/", admin.site.urls),
]

if settings.BENCH_ENDPOINTS:
    # The benchmark's floor (bench/): off unless BENCH_ENDPOINTS=1.
    from baskets.api.bench import BenchViewSet

    urlpatterns.append(path("api/_bench/ping", BenchViewSet.as_view({"get": "ping"}), name="bench-ping"))

handler400 = "checkout_project.api.errors.handler400"
handler403 = "checkout_project.api.errors.handler403"
handler404 = "checkout_project.api.errors.handler404"
handler500 = "checkout_project.api.errors.handler500"
