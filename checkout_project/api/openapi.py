"""Documentation-only serializers shared by every endpoint's OpenAPI description."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, invalid fields, or a business rule refused (code says which)",
    401: "No token, or an unknown, expired or revoked token",
    402: "The payment was declined (payment_declined) or needs the customer's authentication (payment_requires_action)",
    403: "Valid token without the scope this endpoint needs",
    404: "Not found, or not visible to this caller",
    409: "Basket already completed, or a concurrent change won",
    410: "Basket expired",
    412: "If-Match does not match the basket's version",
    422: "Idempotency-Key reused with a different body",
    423: "Subscription has a pending change",
    429: "Throttled",
    502: "An upstream service failed",
    503: "The database is unavailable (nothing was changed); retry after Retry-After seconds",
}


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    details = serializers.DictField(required=False)


def responses(success_status: int, success, *error_statuses: int) -> dict:
    described = {success_status: success}
    # Any operation may meet a database outage (checkout_project.api.errors.database_error_response).
    for status in (*error_statuses, 503):
        described[status] = OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[status])
    return described
