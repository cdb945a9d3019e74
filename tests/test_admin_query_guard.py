"""A NUL character in an admin list's query string is a 400, never a 500 (issue 14: `?status=%00`
answered 500 on PostgreSQL for baskets, customers, subscriptions, promo codes and partners).

Every registered ModelAdmin's changelist is asked with a NUL in each of its filter parameters, its
date drill-down and its search box; one guard (checkout_project.middleware) covers them all.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MODELS = list(admin.site._registry)


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def query_parameters(staff_client, model) -> list[str]:
    """Every query parameter the model's changelist reads: its filters', the date drill-down's, the search's."""
    page = staff_client.get(changelist_url(model))
    assert page.status_code == 200
    changelist = page.context["cl"]
    parameters = {name for spec in changelist.filter_specs for name in spec.expected_parameters() if name}
    if changelist.date_hierarchy:
        parameters |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return sorted(parameters | {"q", "o", "p"})


def test_the_lists_named_in_the_issue_have_filters_or_search(staff_client):
    labels = {model._meta.label: query_parameters(staff_client, model) for model in MODELS}

    # Each has a filter or a search box (the search `q` is sent to every list anyway).
    for label in ("baskets.Basket", "baskets.PromoCode", "subscriptions.Subscription", "partners.Partner"):
        assert len(labels[label]) > 3, (label, labels[label])
    assert "status__exact" in labels["baskets.Basket"], labels["baskets.Basket"]


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
@pytest.mark.parametrize("value", ["\x00", "paid\x00"])
def test_a_nul_in_any_query_parameter_of_any_changelist_is_a_400(staff_client, model, value):
    url = changelist_url(model)

    statuses = {
        name: staff_client.get(url, {name: value}).status_code for name in query_parameters(staff_client, model)
    }

    assert statuses == dict.fromkeys(statuses, 400)


def test_a_nul_in_a_parameter_name_or_the_autocomplete_is_a_400(staff_client):
    url = changelist_url(MODELS[0])

    assert staff_client.get(url, {"\x00": "1"}).status_code == 400
    assert staff_client.get(reverse("admin:autocomplete"), {"term": "\x00"}).status_code == 400


def test_the_guard_answers_before_the_login_too():
    assert Client().get(reverse("admin:index"), {"next": "\x00"}).status_code == 400


def test_a_nul_outside_the_admin_is_left_to_its_view():
    # The hosted checkout page reads no query parameter: it answers as without one.
    assert Client().get("/checkout/", {"x": "\x00"}).status_code == Client().get("/checkout/").status_code
