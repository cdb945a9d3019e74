"""A basket lock that waited for another transaction reads what that transaction wrote, relations included."""

from __future__ import annotations

import pytest

from baskets import services
from baskets.models import Basket, BasketStatus, PromoRedemption
from checkout_project.api.actor import Actor
from tests.factories import BasketFactory, OrderItemFactory, PromoCodeFactory
from tests.threads import held_open, started, wait_until_waiting_on_a_lock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.requires_postgres]

STAFF = Actor(is_staff=True)


@pytest.mark.parametrize("had_code", [False, True], ids=["no code before", "another code before"])
def test_an_order_waiting_while_a_code_is_applied_completes_with_that_code(storefront_app, offer, had_code):
    # The order's lock joins the promo code in; after waiting, PostgreSQL re-reads the basket
    # row but keeps the joined code as it was: the stale relation must be read again, not used.
    before = PromoCodeFactory(code="OLD", percentage=10) if had_code else None
    applied = PromoCodeFactory(code="SPRING20", available_quantity=5)
    basket = BasketFactory(application=storefront_app, email="ada@example.com", promo_code=before)
    OrderItemFactory(basket=basket, offer=offer)

    with held_open(lambda: services.promo_code_apply(actor=STAFF, basket_id=basket.id, code="SPRING20")):
        order = started(lambda: services.basket_complete(actor=STAFF, basket_id=basket.id, any_basket=True))
        wait_until_waiting_on_a_lock()
    completed = order()

    assert completed.basket.promo_code_id == applied.id
    assert Basket.objects.get(pk=basket.pk).status == BasketStatus.COMPLETED
    assert list(PromoRedemption.objects.values_list("promo_code__code", flat=True)) == ["SPRING20"]
    assert completed.totals.discount > 0
