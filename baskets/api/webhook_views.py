"""POST /api/webhooks/stripe: Stripe's webhook deliveries (API.md §10).

A plain Django view: no OAuth (the Stripe-Signature header is the authentication), no CSRF (a
server-to-server POST), the raw body as Stripe signed it. Errors in the API's JSON shape.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from baskets.payments.webhooks import WebhookRefused, payment_webhook_receive
from checkout_project.api.errors import error_body


@csrf_exempt
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = JsonResponse(error_body(f'Method "{request.method}" not allowed.', "method_not_allowed"), status=405)
        response["Allow"] = "POST"
        return response
    try:
        outcome = payment_webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except WebhookRefused as exc:
        return JsonResponse(error_body(exc.message, exc.code, exc.details), status=exc.status_code)
    event = outcome.event
    return JsonResponse(
        {"received": True, "id": event.event_id, "outcome": event.outcome, "replayed": outcome.replayed}
    )
