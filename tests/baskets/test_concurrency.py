"""Real concurrency on PostgreSQL: parallel updates lose nothing, parallel idempotent initiates create one basket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from baskets.models import Basket, BasketEvent
from checkout_project.api.models import IdempotencyRecord
from tests.conftest import bearer
from tests.factories import BasketFactory, OfferFactory, OrderItemFactory
from tests.threads import run_at_once

pytestmark = [pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_parallel_updates_lose_none(storefront_token):
    offers = [OfferFactory(name=f"Offer {n}", path=f"/offers/parallel-{n}") for n in range(20)]
    basket = BasketFactory(application=storefront_token.application, version=7)
    first = OrderItemFactory(basket=basket, offer=offers[0], position=0)

    def send(index, client):
        client.cookies["limio_state"] = basket.public_id
        # Each request adds its own offer: without the row lock two requests read the same
        # version and the same next position, and one of the version bumps is lost.
        return client.put(
            "/api/checkout/update",
            {"order": {"orderItems": [
                {"orderItemActionType": "add", "offer": {"id": offers[index].id}, "quantity": index % 5 + 1},
            ]}},
            format="json",
            **bearer(storefront_token),
        )  # fmt: skip

    responses = run_at_once(20, send)

    assert [response.status_code for response in responses] == [200] * 20, [r.json() for r in responses]
    basket.refresh_from_db()
    assert basket.version == 7 + 20
    assert sorted(response["ETag"] for response in responses) == sorted(f'"{v}"' for v in range(8, 28))
    items = list(basket.items.order_by("position"))
    assert [item.position for item in items] == list(range(21))
    assert items[0].id == first.id
    assert sorted((item.offer_id, item.quantity) for item in items[1:]) == sorted(
        (offer.id, index % 5 + 1) for index, offer in enumerate(offers)
    )
    events = BasketEvent.objects.filter(basket=basket, kind="items_changed")
    assert events.count() == 20
    assert sorted(events.values_list("version", flat=True)) == list(range(8, 28))


def test_parallel_retries_of_an_expired_idempotency_key_run_once_and_replay(storefront_token):
    # The key's record is past its lifetime: one retry takes it over and runs, the others wait
    # for it and replay its answer (no unique-index collision, no 500).
    offer = OfferFactory(name="Digital", path="/offers/digital-expired-key")
    body = {"order": {"orderItems": [{"offer": {"id": offer.id, "version": offer.version}}]}}
    IdempotencyRecord.objects.create(
        client_key=f"{storefront_token.application.pk}:-", key="checkout-7", request_hash="old", status_code=200,
        body={"id": "basket-from-yesterday"},
    )  # fmt: skip
    IdempotencyRecord.objects.update(created=timezone.now() - timedelta(days=2))

    def send(index, client):
        return client.post("/api/checkout/initiate", body, format="json", HTTP_IDEMPOTENCY_KEY="checkout-7",
                           **bearer(storefront_token))  # fmt: skip

    responses = run_at_once(6, send)

    assert [response.status_code for response in responses] == [200] * 6, [r.content for r in responses]
    basket = Basket.objects.get()
    assert {response.json()["id"] for response in responses} == {basket.public_id}
    assert sum(response.get("Idempotent-Replayed") == "true" for response in responses) == 5
    assert IdempotencyRecord.objects.get().body["id"] == basket.public_id


def test_parallel_initiates_with_one_idempotency_key_create_one_basket(storefront_token):
    offer = OfferFactory(name="Digital", path="/offers/digital-idempotent")
    body = {"order": {"orderItems": [{"offer": {"id": offer.id, "version": offer.version}, "quantity": 2}]}}

    def send(index, client):
        return client.post(
            "/api/checkout/initiate",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY="checkout-42",
            **bearer(storefront_token),
        )

    responses = run_at_once(8, send)

    assert [response.status_code for response in responses] == [200] * 8, [r.json() for r in responses]
    assert Basket.objects.count() == 1
    basket = Basket.objects.get()
    assert {response.json()["id"] for response in responses} == {basket.public_id}
    assert {response.json()["order"]["orderItems"][0]["id"] for response in responses} == {str(basket.items.get().id)}
    replayed = [response for response in responses if response.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 7
    assert BasketEvent.objects.filter(basket=basket).count() == 1
