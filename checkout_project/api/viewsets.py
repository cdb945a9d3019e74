"""The base of every API viewset: each action names the OAuth scope it requires."""

from rest_framework import viewsets


class ScopedViewSet(viewsets.ViewSet):
    # Set per action: @action(..., required_scope="checkout"); checked by HasRequiredScope.
    required_scope: str | None = None
    schema_tags: list[str] | None = None
