"""The base of every API viewset: each action names the OAuth scope it requires."""

from rest_framework import viewsets


class ScopedViewSet(viewsets.ViewSet):
    # Set per action: @action(..., required_scope="checkout"); checked by HasRequiredScope.
    required_scope: str | None = None
    schema_tags: list[str] | None = None

    def check_permissions(self, request):
        # Throttle before the scope check (DRF does it after): a flood of requests without a
        # valid token is refused with 429 per client IP instead of being answered 401 forever.
        super().check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request):
        """Already done in check_permissions, before the scope check."""
