"""OAuth plumbing: which scopes a client may get, token loading, per-action scope checks, callers."""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import make_password
from oauth2_provider.models import AccessToken, Application
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from rest_framework.permissions import BasePermission

from checkout_project.api import token_cache
from checkout_project.api.actor import Actor
from checkout_project.api.errors import ApiCodes, ApplicationError

PARTNER_SCOPE = "partner"
ADMIN_SCOPE = "checkout:admin"


def application_partner(application):
    """The partner organisation owning this OAuth application, or None (partners.PartnerClient).

    Loaded with the token (load_access_token): no query on requests.
    """
    link = getattr(application, "partner_client", None)  # None when the application is no partner's
    return link.partner if link is not None else None


class ApplicationScopes(BaseScopes):
    """A client may be granted only the scopes its ClientProfile allows; asking for none gives none.

    A partner organisation's client (partners.PartnerClient) may be granted `partner` and nothing
    else, and only while its partner is active and through client credentials; no other client is
    ever granted `partner`.
    """

    def get_all_scopes(self):
        return settings.OAUTH_SCOPES

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return list(settings.OAUTH_SCOPES)
        partner = application_partner(application)
        if partner is not None:
            client_credentials = application.authorization_grant_type == application.GRANT_CLIENT_CREDENTIALS
            return [PARTNER_SCOPE] if partner.active and client_credentials else []
        profile = getattr(application, "profile", None)
        if profile is None:
            return []
        return [scope for scope in profile.scopes if scope in settings.OAUTH_SCOPES and scope != PARTNER_SCOPE]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return []


def basic_auth_credentials(authorization: str) -> tuple[str, str] | None:
    """(client id, client secret) of an `Authorization: Basic ...` header (RFC 6749 §2.3.1), else None."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme != "Basic":
        return None
    try:
        client_id, separator, client_secret = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (unquote_plus(client_id), unquote_plus(client_secret)) if separator else None


def presented_credentials(request) -> list[tuple[str, str]]:
    """The (client id, secret) pairs an oauthlib token request presents: HTTP Basic, then its body."""
    presented = []
    if basic := basic_auth_credentials(request.headers.get("HTTP_AUTHORIZATION", "")):
        presented.append(basic)
    if client_id := getattr(request, "client_id", None):
        presented.append((client_id, getattr(request, "client_secret", None) or ""))
    return presented


class CheckoutOAuth2Validator(OAuth2Validator):
    def authenticate_client(self, request, *args, **kwargs):
        """DOT's client authentication, costing an unknown client id as much as a wrong secret.

        A wrong secret of a known client costs one hash of the secret (a third of a second of
        CPU with Django's default hasher); left alone, an unknown client id would cost nothing,
        telling a caller by the time taken which client ids exist. Like Django's ModelBackend for
        an unknown user, a request naming no known client hashes the presented secret once, with
        the default hasher (the one client secrets are stored with).
        """
        if super().authenticate_client(request, *args, **kwargs):
            return True
        presented = presented_credentials(request)
        client_ids = {client_id for client_id, _ in presented if "\x00" not in client_id}
        if presented and not Application.objects.filter(client_id__in=client_ids).exists():
            make_password(presented[0][1])
        return False

    def _load_access_token(self, token):
        return load_access_token(token)


def load_access_token(token: str, *, cached: bool = True):
    """The token with what every request needs of it, or None (unknown, or its holder may not act).

    From the shared cache when it was checked in the last TOKEN_CACHE_SECONDS (token_cache; not
    when `cached` is false), else one query for the token, its application and the application's
    client profile, its user and that user's customer, and the application's partner
    organisation. The checksum is unique: no ORDER BY/LIMIT (`.first()` would order by id, and
    compiling an ordering over this many selected columns is a visible part of every request's
    cost).

    Its scopes are narrowed to those its application may be granted now (the rule tokens are
    issued by): a scope taken from a client's profile stops working on its tokens at once.
    """
    token_checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    access_token = token_cache.cached_token(token_checksum) if cached else None
    if access_token is None:
        tokens = AccessToken.objects.select_related(
            "application", "application__profile", "user", "user__customer", "application__partner_client__partner"
        ).filter(token_checksum=token_checksum)
        access_token = next(iter(tokens), None)
        if access_token is None or not token_holder_allowed(access_token):
            return None  # as an unknown token: 401
        if cached and not access_token.is_expired():
            token_cache.remember_token(access_token)
    elif not token_holder_allowed(access_token):
        return None
    available = ApplicationScopes().get_available_scopes(application=access_token.application)
    access_token.scope = " ".join(scope for scope in access_token.scope.split() if scope in available)
    return access_token


def token_holder_allowed(access_token) -> bool:
    """Whether the token's holder may still act, whatever the token's own expiry says.

    A deactivated partner's tokens stop working at once; so do the tokens of a deactivated user.
    A partner acts through client credentials only: a token of a partner's application that
    belongs to a user (an authorization-code login) would give any customer the partner's reach.
    """
    user = access_token.user
    if user is not None and not user.is_active:
        return False
    partner = application_partner(access_token.application)
    return partner is None or (partner.active and user is None)


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
        # Partner clients use only the routes accepting `partner` (the partner endpoints, and the
        # catalog), with that scope alone; other clients never use `partner`, whatever scopes a token
        # was given before its application joined or left a partner.
        if application_partner(token.application) is not None:
            if PARTNER_SCOPE not in accepted:
                self.message = "A partner organisation's token can only be used on the partner endpoints."
                return False
            usable = [PARTNER_SCOPE]
        else:
            usable = [scope for scope in accepted if scope != PARTNER_SCOPE]
            if not usable:
                self.message = "Partner endpoints need a token of a partner organisation's client."
                return False
        if not any(token.allow_scopes([scope]) for scope in usable):
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
        partner=application_partner(token.application) if token is not None else None,
        is_customer_token=user is not None,
        scopes=frozenset(token.scope.split()) if token is not None else frozenset(),
    )


def require_customer(actor: Actor) -> None:
    if actor.is_customer_token and actor.customer is None:
        raise ApplicationError("This user has no customer account.", code=ApiCodes.NO_CUSTOMER_ACCOUNT, status=403)
