"""OAuth plumbing: which scopes a client may get, token loading, per-action scope checks, callers."""

from __future__ import annotations

import hashlib

from django.conf import settings
from oauth2_provider.models import AccessToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from rest_framework.permissions import BasePermission

from baskets.actors import Actor
from checkout_project.api.errors import ApplicationError


class ApplicationScopes(BaseScopes):
    """A client may be granted only the scopes its ClientProfile allows; asking for none gives none."""

    def get_all_scopes(self):
        return settings.OAUTH_SCOPES

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return list(settings.OAUTH_SCOPES)
        profile = getattr(application, "profile", None)
        if profile is None:
            return []
        return [scope for scope in profile.scopes if scope in settings.OAUTH_SCOPES]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return []


class CheckoutOAuth2Validator(OAuth2Validator):
    def _load_access_token(self, token):
        # One query per request for the token, its application, its user and that user's customer.
        token_checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return (
            AccessToken.objects.select_related("application", "user", "user__customer")
            .filter(token_checksum=token_checksum)
            .first()
        )


class HasRequiredScope(BasePermission):
    """Allows the action when the bearer token carries the view's `required_scope`."""

    message = "This token does not carry the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        required = getattr(view, "required_scope", None)
        if required is None:
            return True
        token = request.auth
        if token is None:
            return False  # DRF turns this into 401 because the request is not authenticated.
        # An action may also accept alternatives: @action(..., also_accepted_scopes=("checkout:admin",)).
        accepted = [required, *getattr(view, "also_accepted_scopes", ())]
        if not any(token.allow_scopes([scope]) for scope in accepted):
            self.message = f"This endpoint needs the {' or '.join(repr(scope) for scope in accepted)} scope."
            return False
        return True


def actor_from_request(request) -> Actor:
    """Who is calling: the token's application, its user's customer, partner organisation."""
    token = request.auth
    user = token.user if token is not None else None
    customer = None
    if user is not None:
        customer = getattr(user, "customer", None) if hasattr(user, "customer") else None
    return Actor(
        application=token.application if token is not None else None,
        user=user,
        customer=customer,
        partner=None,
        is_customer_token=user is not None,
        scopes=frozenset(token.scope.split()) if token is not None else frozenset(),
    )


def require_customer(actor: Actor) -> None:
    if actor.is_customer_token and actor.customer is None:
        raise ApplicationError("This user has no customer account.", code="no_customer_account", status=403)
