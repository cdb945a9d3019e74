"""OAuth endpoints that differ from django-oauth-toolkit's defaults."""

from django.http import JsonResponse
from oauth2_provider import views as oauth2_views

from checkout_project.api.auth import CheckoutOAuth2Validator


class IntrospectTokenView(oauth2_views.IntrospectTokenView):
    """RFC 7662 introspection for resource servers only.

    DOT also lets any confidential client introspect any token with its own credentials, which
    would tell one storefront the client ids and usernames behind another's tokens. Here only a
    bearer token carrying the `introspection` scope (granted through a ClientProfile) may ask.
    """

    def authenticate_client(self, request):
        return False

    @staticmethod
    def get_token_response(token_value=None):
        # A token the API would refuse (a deactivated partner's or user's) is not active either.
        if token_value is not None and CheckoutOAuth2Validator()._load_access_token(token_value) is None:
            return JsonResponse({"active": False}, status=200)
        return oauth2_views.IntrospectTokenView.get_token_response(token_value)
