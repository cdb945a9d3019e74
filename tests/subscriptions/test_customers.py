"""customer_get_or_create: any case finds the customer; a new one costs one INSERT; a race reads the winner."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from subscriptions import services as subscription_services
from subscriptions.models import Customer
from tests.factories import CustomerFactory
from tests.statements import DataStatements
from tests.threads import held_open, started, wait_until_waiting_on_a_lock

pytestmark = pytest.mark.django_db


def test_customer_get_or_create_finds_any_case_or_creates_in_one_insert():
    existing = CustomerFactory(email="Ada@Example.com")
    with DataStatements(connection) as captured:
        assert subscription_services.customer_get_or_create(email="ada@example.COM") == existing
    assert len(captured) == 1

    with DataStatements(connection) as captured:
        created = subscription_services.customer_get_or_create(email="grace@example.com", details={"first_name": "G"})
    assert len(captured) == 2, captured.sql()  # the lookup, the INSERT
    stored = Customer.objects.get(email="grace@example.com")
    assert (created.pk, created.first_name, created.created) == (stored.pk, "G", stored.created)


def test_a_customer_known_absent_is_inserted_without_a_lookup_and_found_when_it_exists_after_all():
    with DataStatements(connection) as captured:
        created = subscription_services.customer_get_or_create(email="ada@example.com", known_absent=True)
    assert len(captured) == 1, captured.sql()  # the INSERT

    # Created since the caller read that there was none: the INSERT fails and the row is read.
    again = subscription_services.customer_get_or_create(email="ada@example.com", known_absent=True)
    assert again == created
    assert Customer.objects.count() == 1


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
