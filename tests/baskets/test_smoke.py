import pytest

from baskets.models import Basket
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_initiate_then_update(api_client, storefront_token, offer, add_on):
    response = api_client.post(
        "/api/checkout/initiate",
        {"order": {"orderItems": [{"offer": {"id": offer.id, "version": offer.version}, "quantity": 2}]}},
        format="json",
        **bearer(storefront_token),
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    item_id = body["order"]["orderItems"][0]["id"]
    assert body["order"]["totals"]["subtotal"] == "25.98"
    assert response["ETag"] == '"1"'
    response = api_client.put(
        "/api/checkout/update",
        {"order": {"orderItems": [
            {"orderItemActionType": "add", "offer": {"id": add_on.id}, "parentId": item_id},
            {"orderItemActionType": "update", "id": item_id, "quantity": 1},
        ]}},
        format="json",
        **bearer(storefront_token),
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    assert response.json()["order"]["totals"]["total"] == "15.49"
    assert Basket.objects.get().version == 2
