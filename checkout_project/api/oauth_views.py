"""OAuth endpoints that differ from django-oauth-toolkit's defaults."""

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from oauth2_provider import views as oauth2_views

from checkout_project.api.auth import basic_auth_credentials, load_access_token
from checkout_project.api.throttling import throttle_posts

# The OAuth error (RFC 6749 §5.2 shape) of a refused token request: RFC 8628's "slow down",
# the registered token-endpoint error for a client asking too often.
OAUTH_SLOW_DOWN = "slow_down"
OAUTH_INVALID_REQUEST = "invalid_request"


def token_client_counter(request: HttpRequest) -> list[tuple[str, str]]:
    """The per-client-id counter of a token request: the id of its HTTP Basic credentials, else of its body.

    Known or not: guessing the secrets of made-up client ids counts like guessing a real one's.
    The id is hashed into the key, which stays short whatever the caller sends.
    """
    basic = basic_auth_credentials(request.META.get("HTTP_AUTHORIZATION", ""))
    client_id = basic[0] if basic is not None else request.POST.get("client_id", "")
    if not client_id:
        return []
    return [("token:client", "client:" + hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest())]


def token_too_many_requests(request: HttpRequest, seconds: int) -> HttpResponse:
    """429 in the token endpoint's own error shape (`{"error": ...}`), not the API's."""
    body = {
        "error": OAUTH_SLOW_DOWN,
        "error_description": f"Too many token requests; try again in {seconds} seconds.",
    }
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    add_never_cache_headers(response)
    return response


def refuse_nul_characters(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A token request with a NUL in a parameter or its Basic credentials is an OAuth 400
    `invalid_request`: PostgreSQL refuses NUL in a string, and DOT's client lookup would be a 500."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        basic = basic_auth_credentials(request.META.get("HTTP_AUTHORIZATION", "")) or ()
        texts = [*basic, *(text for key, values in request.POST.lists() for text in [key, *values])]
        if any("\x00" in text for text in texts):
            body = {"error": OAUTH_INVALID_REQUEST, "error_description": "A parameter contains a NUL character."}
            return JsonResponse(body, status=400)
        return view(request, *args, **kwargs)

    return wrapped


# POST /oauth2/token: each request hashes a client secret, so it counts per client IP and per
# client id (THROTTLE_PAGE_RATES["token"], ["token:client"]) before any of that work is done.
token_view = throttle_posts("token", more=token_client_counter, refuse=token_too_many_requests)(
    refuse_nul_characters(oauth2_views.TokenView.as_view())
)


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
        # A token the API would refuse (a deactivated partner's or user's) is not active either;
        # asked of the database, not the token cache: a resource server gets the truth.
        if token_value is not None and load_access_token(token_value, cached=False) is None:
            return JsonResponse({"active": False}, status=200)
        return oauth2_views.IntrospectTokenView.get_token_response(token_value)
