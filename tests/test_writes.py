"""checkout_project.writes.WriteBatch: what it writes is what the ORM calls it stands for write, in
one statement on PostgreSQL and one by one elsewhere; customer_get_or_create's upsert under a race."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from baskets.models import Basket, BasketEvent, OrderItem
from checkout_project.writes import WriteBatch, batched
from subscriptions import services as subscription_services
from subscriptions.models import Customer
from tests.factories import BasketFactory, CustomerFactory, OrderItemFactory
from tests.threads import held_open, started, wait_until_waiting_on_a_lock

pytestmark = pytest.mark.django_db


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if query["sql"] not in {"BEGIN", "COMMIT"}]


def expected_statements(writes: int) -> int:
    return 1 if connection.vendor == "postgresql" else writes


def new_item(basket: Basket, offer, position: int, **fields) -> OrderItem:
    return OrderItem(
        id=uuid.uuid4(), basket=basket, position=position, type=offer.type, offer_id=offer.pk,
        offer_version=offer.version, offer_snapshot=offer.snapshot, **fields,
    )  # fmt: skip


def test_a_basket_its_items_and_its_event_are_inserted_together(offer):
    now = timezone.now()
    basket = Basket(id=uuid.uuid4(), created=now, updated=now, expires_at=now + timedelta(days=1), email="a@b.com")
    parent = new_item(basket, offer, 0, quantity=2)
    child = new_item(basket, offer, 1, quantity=1, parent_id=parent.id)
    event = BasketEvent(basket=basket, kind="created", version=1, data={"n": 2})
    writes = WriteBatch()
    writes.insert([basket])
    writes.insert([parent, child])
    writes.insert([event])

    with CaptureQueriesContext(connection) as captured:
        assert writes.send() == [1, 2, 1]

    assert len(statements(captured)) == expected_statements(3)
    assert event.pk is not None  # auto-increment primary key read back
    assert BasketEvent.objects.get(pk=event.pk).data == {"n": 2}
    stored = Basket.objects.get(pk=basket.pk)
    assert stored.email == "a@b.com"
    assert list(stored.items.order_by("position").values_list("id", "quantity", "parent_id")) == [
        (parent.id, 2, None),
        (child.id, 1, parent.id),
    ]
    assert not basket._state.adding and not parent._state.adding and not event._state.adding
    assert BasketEvent.objects.get(pk=event.pk).created is not None  # auto_now_add filled in
    assert len(writes) == 0  # sent: the batch is empty again
    assert writes.send() == []


def test_save_update_delete_and_upsert_in_one_batch(offer):
    basket = BasketFactory(version=3)
    kept = OrderItemFactory(basket=basket, offer=offer, position=0, quantity=1)
    gone = OrderItemFactory(basket=basket, offer=offer, position=1)
    other = OrderItemFactory(basket=BasketFactory(), offer=offer, position=0)
    added = new_item(basket, offer, 2, quantity=4)
    kept.quantity = 5
    basket.version = 4

    writes = WriteBatch()
    writes.delete(OrderItem.objects.filter(basket=basket, id__in=[gone.id]))
    writes.insert([added, kept], update_conflicts_on=["id"], update_fields=["quantity"])
    writes.save(basket, ["version"])
    basket.email = "later@example.com"  # a save writes the values as they are when sent
    writes.save(basket, ["email"])  # the same instance again: one UPDATE of both fields
    writes.update(OrderItem.objects.filter(pk=other.pk), quantity=F("quantity") + 2)
    with CaptureQueriesContext(connection) as captured:
        counts = writes.send()

    assert counts == [1, 2, 1, 1]
    assert len(statements(captured)) == expected_statements(4)
    assert sorted(OrderItem.objects.filter(basket=basket).values_list("position", "quantity")) == [(0, 5), (2, 4)]
    assert OrderItem.objects.get(pk=other.pk).quantity == 3
    stored = Basket.objects.get(pk=basket.pk)
    assert (stored.version, stored.email) == (4, "later@example.com")


def test_writes_that_match_nothing_by_construction_send_nothing(offer):
    basket = BasketFactory(version=1)
    basket.version = 2
    writes = WriteBatch()
    writes.update(OrderItem.objects.filter(pk__in=[]), quantity=3)
    writes.delete(OrderItem.objects.filter(pk__in=[]))
    writes.save(basket, ["version"])
    assert writes.send() == [0, 0, 1]
    assert Basket.objects.get(pk=basket.pk).version == 2


def test_a_save_that_matches_no_row_raises_and_the_batch_rolls_back(offer):
    basket = BasketFactory()
    missing = Basket(id=uuid.uuid4())  # never inserted
    writes = WriteBatch()
    writes.insert([BasketEvent(basket=basket, kind="note", version=1)])
    writes.save(missing, ["email"])
    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        writes.send()
    assert not BasketEvent.objects.filter(basket=basket).exists()


def test_a_failing_write_leaves_none_of_the_batch(offer):
    basket = BasketFactory(version=1)
    basket.version = 2
    writes = WriteBatch()
    writes.save(basket, ["version"])
    writes.insert([new_item(basket, offer, 0, quantity=0)])  # violates order_item_quantity_positive
    with pytest.raises(IntegrityError), transaction.atomic():
        writes.send()
    assert Basket.objects.get(pk=basket.pk).version == 1
    assert not OrderItem.objects.filter(basket=basket).exists()


def test_refused_batches(offer):
    basket = BasketFactory()
    item = new_item(basket, offer, 0, quantity=1)
    writes = WriteBatch()
    writes.insert([item])
    writes.insert([item], update_conflicts_on=["id"], update_fields=["quantity"])
    with pytest.raises(ValueError, match="written twice"):
        writes.send()
    assert not OrderItem.objects.exists()

    with pytest.raises(ValueError, match="cascade"):
        WriteBatch().delete(Basket.objects.filter(pk=basket.pk))  # its items and events cascade
    with pytest.raises(ValueError, match="Not concrete fields"):
        WriteBatch().save(basket, ["items"])


def test_batched_sends_its_own_batch_or_adds_to_the_callers(offer):
    basket = BasketFactory()
    with batched(None) as batch:
        batch.insert([BasketEvent(basket=basket, kind="a", version=1)])
    assert BasketEvent.objects.filter(basket=basket).count() == 1

    outer = WriteBatch()
    with batched(outer) as batch:
        batch.insert([BasketEvent(basket=basket, kind="b", version=1)])
    assert BasketEvent.objects.filter(basket=basket).count() == 1  # the caller sends it
    outer.send()
    assert BasketEvent.objects.filter(basket=basket).count() == 2

    with pytest.raises(RuntimeError), batched(None) as batch:
        batch.insert([BasketEvent(basket=basket, kind="c", version=1)])
        raise RuntimeError
    assert BasketEvent.objects.filter(basket=basket).count() == 2  # nothing sent when the block raises


# --- customer_get_or_create ----------------------------------------------------------------------


def test_customer_get_or_create_finds_any_case_or_creates_in_one_insert():
    existing = CustomerFactory(email="Ada@Example.com")
    with CaptureQueriesContext(connection) as captured:
        assert subscription_services.customer_get_or_create(email="ada@example.COM") == existing
    assert len(captured) == 1

    with CaptureQueriesContext(connection) as captured:
        created = subscription_services.customer_get_or_create(email="grace@example.com", details={"first_name": "G"})
    assert len(captured) == 2  # the lookup, the upsert: no SAVEPOINT
    stored = Customer.objects.get(email="grace@example.com")
    assert (created.pk, created.first_name, created.created) == (stored.pk, "G", stored.created)


@pytest.mark.requires_postgres
@pytest.mark.django_db(transaction=True)
def test_customer_get_or_create_returns_the_row_a_concurrent_insert_committed():
    """The other request inserts the e-mail first and commits while this one waits on it."""
    winner = {}

    def insert_first():
        winner["customer"] = Customer.objects.create(email="race@example.com", first_name="First")

    with held_open(insert_first):
        # The lookup sees nothing yet (uncommitted); the INSERT waits on the other's index entry.
        def create():
            with transaction.atomic():
                return subscription_services.customer_get_or_create(email="race@example.com", details={})

        result = started(create)
        wait_until_waiting_on_a_lock()
    customer = result()
    assert customer.pk == winner["customer"].pk
    assert customer.first_name == "First"
    assert Customer.objects.filter(email="race@example.com").count() == 1
