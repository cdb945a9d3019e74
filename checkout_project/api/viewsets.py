"""The base of every API viewset: each action requires an OAuth scope; the caller is checked first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from rest_framework import viewsets

from checkout_project.api.auth import actor_from_request

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor


class ScopedViewSet(viewsets.ViewSet):
    # The scope the viewset's actions require unless an action names its own
    # (@api_action(..., scope=...) or @action(..., required_scope=...)); checked by HasRequiredScope.
    required_scope: str | None = None
    schema_tags: list[str] | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # An action without a scope would be open to any token: refuse to define one.
        for extra_action in cls.get_extra_actions():
            if getattr(extra_action, "kwargs", {}).get("required_scope", cls.required_scope) is None:
                raise ImproperlyConfigured(f"{cls.__name__}.{extra_action.__name__} requires no OAuth scope.")

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        # Each route names the scope it requires (its action's, else the viewset's), as @action's
        # required_scope does: the throttle and the schema read it there.
        if cls.required_scope is not None:
            initkwargs.setdefault("required_scope", cls.required_scope)
        return super().as_view(actions, **initkwargs)

    def caller(self, request) -> Actor:
        """Who is calling (the token's application, user, customer, partner organisation); a
        viewset refusing some callers whatever the action (the partner endpoints) adds its check."""
        return actor_from_request(request)

    def check_permissions(self, request):
        # Throttle before the scope check (DRF does it after): a flood of requests without a
        # valid token is refused with 429 per client IP instead of being answered 401 forever.
        super().check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request):
        """Already done in check_permissions, before the scope check."""
