from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from baskets.api.views import CheckoutViewSet

router = SimpleRouter(trailing_slash=False)
router.register("checkout", CheckoutViewSet, basename="checkout")

urlpatterns = [
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("oauth2/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

handler400 = "checkout_project.api.errors.handler400"
handler403 = "checkout_project.api.errors.handler403"
handler404 = "checkout_project.api.errors.handler404"
handler500 = "checkout_project.api.errors.handler500"
