"""Request and response examples for the OpenAPI schema, in the contract's shapes (API.md §4-§9;
the ids and values of Limio's pages where they give some). tests/api/test_schema.py validates each
one against the schema it illustrates."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from drf_spectacular.utils import OpenApiExample

from baskets.errors import BasketCodes

BASKET_ID = "basket-a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
OFFER_ID = "4150f06cf55dace8a1c2e3f4b5d6c7e8f9a0b1c2"
OFFER_VERSION = "7ee4a0bdf1f392c9d8e7f6a5b4c3d2e1f0a9b8c7"
ANNUAL_OFFER_ID = "1bff7ede8147968c0a1b2c3d4e5f60718293a4b5"
ANNUAL_OFFER_VERSION = "6ba9d26e11f13ede5f4e3d2c1b0a99887766554a"
ADD_ON_ID = "7382e89a2b315cbe9d8c7b6a5f4e3d2c1b0a9f8e"
ADD_ON_VERSION = "2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
ITEM_ID = "3f2b8c1e-5d4a-4e7b-9c6f-1a2b3c4d5e6f"
ADD_ON_ITEM_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
NEW_ITEM_ID = "c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f"
SUBSCRIPTION_ID = "sub-5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
REFERENCE = "A1B2C3D4E5F6"
NOW = "2024-03-26T15:44:54.975Z"

PRODUCT = {"path": "/products/digital", "productCode": "DIGITAL", "name": "Digital access"}
MONTHLY = {
    "name": "Monthly",
    "amount": "12.99",
    "currency": "GBP",
    "type": "recurring",
    "repeatInterval": 1,
    "repeatIntervalType": "months",
    "repeatCount": None,
    "delayInterval": 0,
    "delayIntervalType": "days",
}
ANNUAL = {**MONTHLY, "name": "Yearly", "amount": "129.00", "repeatIntervalType": "years"}
CROSSWORD = {**MONTHLY, "name": "Monthly", "amount": "2.50"}
CUSTOMER = {
    "email": "ada@example.com",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "companyName": "",
    "phone": "+44 20 7946 0000",
}
TRACKING = {"campaign": "spring-sale", "purchaseCountryCode": "GB"}


def _offer(offer_id: str, version: str, name: str, path: str, price: dict, products=(PRODUCT,)) -> dict[str, Any]:
    return {
        "id": offer_id,
        "version": version,
        "name": name,
        "path": path,
        "products": list(products),
        "price": [price],
    }


DIGITAL = _offer(OFFER_ID, OFFER_VERSION, "Digital monthly", "/offers/digital-monthly", MONTHLY)
DIGITAL_ANNUAL = _offer(ANNUAL_OFFER_ID, ANNUAL_OFFER_VERSION, "Digital annual", "/offers/digital-annual", ANNUAL)
CROSSWORD_ADD_ON = _offer(
    ADD_ON_ID,
    ADD_ON_VERSION,
    "Crossword",
    "/offers/crossword",
    CROSSWORD,
    products=({"path": "/products/crossword", "productCode": "XWORD", "name": "Crossword"},),
)


def _item(item_id: str, offer: dict, *, type_: str = "offer", quantity: int = 1, parent: str | None = None) -> dict:
    return {
        "id": item_id,
        "type": type_,
        "offer": {key: offer[key] for key in ("id", "version", "name", "path", "products")},
        "quantity": quantity,
        "parentId": parent,
        "price": offer["price"],
    }


def _order(items: list[dict], *, subtotal: str, discount: str = "0.00", version: int = 1, **extra) -> dict[str, Any]:
    total = f"{float(subtotal) - float(discount):.2f}"
    order: dict[str, Any] = {
        "checkoutId": BASKET_ID,
        "order_type": "new",
        "status": "active",
        "orderItems": items,
        "customerDetails": CUSTOMER,
        "tracking": TRACKING,
        "country": "GB",
        "source": "web",
        "external_id": None,
        "customFields": {},
        "promoCode": None,
        "totals": {"subtotal": subtotal, "discount": discount, "total": total, "currency": "GBP", "dueToday": total},
        "version": version,
        "created": NOW,
        "updated": NOW,
        "expiresAt": "2024-04-09T15:44:54.975Z",
        "completed": False,
    }
    order.update(extra)
    return order


ORDER = _order([_item(ITEM_ID, DIGITAL)], subtotal="12.99")

# --- Checkout & Baskets (API.md §4) ---------------------------------------------------------------

INITIATE = [
    OpenApiExample(
        "A new basket",
        request_only=True,
        value={
            "order": {
                "orderItems": [{"offer": {"id": OFFER_ID, "version": OFFER_VERSION}, "quantity": 1}],
                "customerDetails": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
                "tracking": TRACKING,
                "country": "GB",
                "source": "web",
            }
        },
    ),
    OpenApiExample(
        "The basket",
        response_only=True,
        value={
            "id": BASKET_ID,
            "order": ORDER,
            "checkoutUrl": f"https://checkout.example.com/api/checkout/recover?basketId={BASKET_ID}&recover=eyJi...",
        },
    ),
]

UPDATE = [
    OpenApiExample(
        "Add an add-on",
        request_only=True,
        value={
            "order": {
                "orderItems": [
                    {
                        "orderItemActionType": "add",
                        "offer": {"id": ADD_ON_ID, "version": ADD_ON_VERSION},
                        "type": "add_on",
                        "parentId": ITEM_ID,
                    }
                ]
            }
        },
    ),
    OpenApiExample(
        "Change a quantity, remove an item",
        request_only=True,
        value={
            "order": {
                "orderItems": [
                    {"orderItemActionType": "update", "id": ITEM_ID, "quantity": 2},
                    {"orderItemActionType": "remove", "id": ADD_ON_ITEM_ID},
                ]
            }
        },
    ),
    OpenApiExample(
        "The basket, and each action's result",
        response_only=True,
        value={
            "id": BASKET_ID,
            "order": _order(
                [_item(ITEM_ID, DIGITAL), _item(ADD_ON_ITEM_ID, CROSSWORD_ADD_ON, type_="add_on", parent=ITEM_ID)],
                subtotal="15.49",
                version=2,
            ),
            "actionResults": [
                {"index": 0, "orderItemActionType": "add", "status": "applied", "orderItemId": ADD_ON_ITEM_ID}
            ],
        },
    ),
]

# Limio's page's cursor: base64 of {"v":"1","c":"<basket uuid>","r":"<created>"}.
QUERY_MORE = (
    "eyJ2IjoiMSIsImMiOiJjYjY0ZDY1YS1iYzQwLTQ3YjItODI5Ny1mN2E4ZGEyYjA0M2UiLCJyIjoiMjAyNC0wMy0yNlQxNTowNDo1NC45NzVaIn0="
)

ABANDONED = [
    OpenApiExample(
        "A page of abandoned baskets",
        response_only=True,
        value={
            "items": [
                {
                    "id": BASKET_ID,
                    "created": NOW,
                    "updated": NOW,
                    "status": "active",
                    "customerDetails": CUSTOMER,
                    "orderItems": [
                        {
                            "name": "Digital monthly",
                            "path": "/offers/digital-monthly",
                            "products": [{"path": "/products/digital", "productCode": "DIGITAL"}],
                        }
                    ],
                    "tracking": TRACKING,
                    "customFields": {},
                    "identities": [{"type": "email", "email": "ada@example.com"}],
                    "entry": {"referer": "https://shop.example.com/pricing"},
                    "partner": None,
                    "completed": False,
                    "recoveryLink": f"/api/checkout/recover?basketId={BASKET_ID}&recover=eyJ...",
                }
            ],
            "queryMore": QUERY_MORE,
        },
    )
]

PROMO_CODE = {
    "code": "SUMMER20",
    "description": "20% off",
    "discount": {"type": "percentage", "percentage": "20.00"},
    "applicationLevel": "wholeBasket",
    "discountedOrderItems": [ITEM_ID],
    "durationLength": 3,
    "durationType": "months",
    "discountedUntil": "2024-06-26T15:44:54.975Z",
    "amount": "2.60",
    "currency": "GBP",
    "schedule": [
        {"date": NOW, "amount": "12.99", "discount": "2.60", "total": "10.39"},
        {"date": "2024-04-26T15:44:54.975Z", "amount": "12.99", "discount": "2.60", "total": "10.39"},
        {"date": "2024-05-26T15:44:54.975Z", "amount": "12.99", "discount": "2.60", "total": "10.39"},
    ],
}

APPLY_PROMO_CODE = [
    OpenApiExample("Apply a code", request_only=True, value={"code": "SUMMER20", "basketId": BASKET_ID}),
    OpenApiExample(
        "The basket with its code",
        response_only=True,
        value={
            "id": BASKET_ID,
            "order": _order(
                [_item(ITEM_ID, DIGITAL)], subtotal="12.99", discount="2.60", version=2, promoCode=PROMO_CODE
            ),
        },
    ),
]

RECOVERY_LINK = f"/api/checkout/recover?basketId={BASKET_ID}&recover=eyJ..."
ASSISTED_LINK = f"/api/checkout/assisted?basketId={BASKET_ID}&cl=eyJ..."

ADMIN_INITIATE = [
    OpenApiExample(
        "A basket for a known customer",
        request_only=True,
        value={
            "order": {"orderItems": [{"offer": {"id": OFFER_ID}}]},
            "customer": {"email": "ada@example.com"},
        },
    ),
    OpenApiExample(
        "Its links",
        response_only=True,
        value={"id": BASKET_ID, "recoveryLink": RECOVERY_LINK, "assistedCheckoutLink": ASSISTED_LINK},
    ),
]

RENEW = [
    OpenApiExample("By reference", request_only=True, value={"subscription": {"reference": REFERENCE}}),
    OpenApiExample("By id", request_only=True, value={"subscriptionId": SUBSCRIPTION_ID}),
    OpenApiExample(
        "The renewal basket",
        response_only=True,
        value={
            "id": BASKET_ID,
            "segments": ["loyal"],
            "order": _order([_item(ITEM_ID, DIGITAL)], subtotal="12.99", order_type="renew"),
            "recoveryLink": RECOVERY_LINK,
            "assistedCheckoutLink": ASSISTED_LINK,
        },
    ),
]

# --- Subscription checkout (API.md §6) --------------------------------------------------------------

CURRENT_OFFER = {
    **{key: DIGITAL[key] for key in ("id", "version", "name", "path", "products", "price")},
    "type": "offer",
    "currency": "GBP",
    "term": {"length": 12, "type": "months"},
}
UPGRADE_OFFER = {
    **{key: DIGITAL_ANNUAL[key] for key in ("id", "version", "name", "path", "products", "price")},
    "type": "offer",
    "currency": "GBP",
    "term": {"length": 12, "type": "months"},
}
ADD_ON_OFFER = {
    **{key: CROSSWORD_ADD_ON[key] for key in ("id", "version", "name", "path", "products", "price")},
    "type": "add_on",
    "currency": "GBP",
    "term": {"length": 12, "type": "months"},
}
NEXT_ACTIONS = {"upgrades": [UPGRADE_OFFER], "downgrades": [], "crossSells": [ADD_ON_OFFER], "subscriptionAddOns": []}


def _change_order(items: list[dict], totals: dict, *, version: int = 1) -> dict[str, Any]:
    order = _order(items, subtotal="0.00", version=version, order_type="update_subscription")
    order.update(
        totals=totals,
        country=None,
        source=None,
        tracking={},
        forSubscription={"id": SUBSCRIPTION_ID, "reference": REFERENCE},
        forSubscriptionOffer=CURRENT_OFFER,
    )
    return order


NO_CHANGE_TOTALS = {
    "subtotal": "0.00",
    "discount": "0.00",
    "credit": "0.00",
    "total": "0.00",
    "currency": "GBP",
    "dueToday": "0.00",
    "nextChargeDate": "2024-04-26T00:00:00.000Z",
    "nextChargeAmount": "12.99",
    "charges": [],
}
UPGRADE_TOTALS = {
    "subtotal": "129.00",
    "discount": "0.00",
    "credit": "6.50",
    "total": "122.50",
    "balanceApplied": "0.00",
    "currency": "GBP",
    "dueToday": "122.50",
    "balance": "0.00",
    "nextChargeDate": "2025-03-26T15:44:54.975Z",
    "nextChargeAmount": "129.00",
    "charges": [
        {
            "description": "Digital annual",
            "periodStart": NOW,
            "periodEnd": "2025-03-26T15:44:54.975Z",
            "amount": "129.00",
        }
    ],
}
PRORATION = {
    "effectiveDate": NOW,
    "credit": "6.50",
    "charge": "129.00",
    "dueToday": "122.50",
    "nextChargeDate": "2025-03-26T15:44:54.975Z",
    "nextChargeAmount": "129.00",
    "currency": "GBP",
}


def _change_item(item_id: str, offer: dict, action: str, *, automatic: bool, proration: dict | None) -> dict:
    return {
        **_item(item_id, offer),
        "orderItemActionType": action,
        "effectiveDate": NOW,
        "automatic": automatic,
        "proration": proration,
    }


UPGRADE_ORDER = _change_order(
    [
        _change_item(NEW_ITEM_ID, DIGITAL_ANNUAL, "add", automatic=False, proration=PRORATION),
        _change_item(ITEM_ID, DIGITAL, "remove", automatic=True, proration=None),
    ],
    UPGRADE_TOTALS,
    version=2,
)

SUBSCRIPTION_INITIATE = [
    OpenApiExample(
        "Change a subscription",
        request_only=True,
        value={
            "order": {"order_type": "update_subscription", "forSubscription": {"id": SUBSCRIPTION_ID}},
            "tracking": {"campaign": "upgrade-2024"},
        },
    ),
    OpenApiExample(
        "By its reference",
        request_only=True,
        value={"order": {"order_type": "update_subscription", "forSubscription": {"name": REFERENCE}}},
    ),
    OpenApiExample(
        "The change basket and what can be done",
        response_only=True,
        value={
            "id": BASKET_ID,
            "order": _change_order([], NO_CHANGE_TOTALS),
            "nextActions": NEXT_ACTIONS,
            "completed": False,
        },
    ),
]

SUBSCRIPTION_RETRIEVE = [
    OpenApiExample(
        "The change basket",
        response_only=True,
        value={"id": BASKET_ID, "order": UPGRADE_ORDER, "nextActions": NEXT_ACTIONS, "completed": False},
    ),
]

SUBSCRIPTION_UPDATE = [
    OpenApiExample(
        "Upgrade",
        request_only=True,
        value={
            "order": {"orderItems": [{"orderItemActionType": "add", "type": "offer", "offer": {"id": ANNUAL_OFFER_ID}}]}
        },
    ),
    OpenApiExample(
        "The upgrade priced, the current offer's removal added",
        response_only=True,
        value={
            "id": BASKET_ID,
            "order": UPGRADE_ORDER,
            "nextActions": {**NEXT_ACTIONS, "upgrades": []},
            "completed": False,
            "actionResults": [
                {"index": 0, "orderItemActionType": "add", "status": "applied", "orderItemId": NEW_ITEM_ID},
                {"index": 0, "orderItemActionType": "remove", "status": "auto", "orderItemId": ITEM_ID},
            ],
        },
    ),
]

# --- Orders (API.md §9, §10) --------------------------------------------------------------------------

MANUAL_PAYMENT = {
    "id": "pay-6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c",
    "gateway": "manual",
    "status": "manual",
    "amount": "12.99",
    "currency": "GBP",
    "gatewayReference": "",
    "refundedAmount": "0.00",
    "created": NOW,
    "updated": NOW,
    "noPaymentTaken": True,
    "message": "No payment taken",
}
STRIPE_PAYMENT = {
    **MANUAL_PAYMENT,
    "gateway": "stripe",
    "status": "captured",
    "amount": "122.50",
    "gatewayReference": "pi_3OxYzA2eZvKYlo2C0a1b2c3d",
    "noPaymentTaken": False,
}
del STRIPE_PAYMENT["message"]
ORDER_ID = "order-" + BASKET_ID.removeprefix("basket-")


def _completed(order: dict) -> dict:
    completed = deepcopy(order)
    completed.update(status="completed", completed=True, version=order["version"] + 1)
    return completed


SUBMIT_ORDER = [
    OpenApiExample(
        "Card payment (Stripe)",
        request_only=True,
        value={
            "checkoutId": BASKET_ID,
            "customerDetails": {"email": "ada@example.com"},
            "payment": {"paymentMethodId": "pm_card_visa"},
        },
    ),
    OpenApiExample(
        "Manual gateway (no payment taken)",
        request_only=True,
        value={"checkoutId": BASKET_ID, "payment": {"method": "invoice", "reference": "PO-2024-0042"}},
    ),
    OpenApiExample(
        "A new subscription",
        response_only=True,
        value={
            "id": ORDER_ID,
            "checkoutId": BASKET_ID,
            "status": "completed",
            "order": _completed(ORDER),
            "subscriptions": [{"id": SUBSCRIPTION_ID, "reference": REFERENCE}],
            "payment": MANUAL_PAYMENT,
        },
    ),
    OpenApiExample(
        "A subscription change (its proration, change totals and subscription)",
        response_only=True,
        value={
            "id": ORDER_ID,
            "checkoutId": BASKET_ID,
            "status": "completed",
            "order": _completed(UPGRADE_ORDER),
            "subscriptions": [{"id": SUBSCRIPTION_ID, "reference": REFERENCE}],
            "payment": STRIPE_PAYMENT,
        },
    ),
]

# --- Partner checkout (API.md §8) ---------------------------------------------------------------------

PARTNER_VALIDATE = [
    OpenApiExample(
        "A basket with a product no longer sold",
        response_only=True,
        value={
            "id": BASKET_ID,
            "checkout": {
                "order": ORDER,
                "valid": False,
                "blockedProducts": [
                    {
                        "orderItemId": ITEM_ID,
                        "path": "/products/digital",
                        "productCode": "DIGITAL",
                        "reason": str(BasketCodes.PRODUCT_UNAVAILABLE),
                    }
                ],
                "errors": [
                    {
                        "orderItemId": ITEM_ID,
                        "code": str(BasketCodes.PRODUCT_UNAVAILABLE),
                        "message": "Product DIGITAL is no longer available.",
                    }
                ],
            },
        },
    ),
]
