"""The start page at `/` and the customer login page (issue 15: first steps)."""

from __future__ import annotations

import pytest
from django.test import Client

from checkout_project.management.demo_baskets import SOURCE
from tests.factories import BasketFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_start_page_links_the_admin_the_api_docs_and_a_demo_checkout(client):
    basket = BasketFactory(source=SOURCE, email="ada@example.com")

    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/admin/"' in page
    assert 'href="/api/docs/"' in page
    assert f"/api/checkout/recover?basketId={basket.public_id}" in page
    assert "/static/checkout/checkout.css" in page
    # The demo checkout link opens the basket's hosted checkout page.
    link = page.split('id="start-checkout"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert client.get(link).status_code == 302


def test_the_start_page_without_demo_data_says_how_to_get_it(client):
    page = client.get("/").content.decode()
    assert 'id="start-checkout"' not in page
    assert "seed_demo" in page


def test_the_login_page_asks_for_an_email_in_the_hosted_pages_look():
    page = Client().get("/accounts/login/").content.decode()
    assert ">Email</label>" in page
    assert 'type="email"' in page
    assert "Username" not in page
    assert "/static/checkout/checkout.css" in page


def test_after_login_the_customer_lands_on_the_start_page_not_the_api_docs():
    UserFactory(username="grace@example.com", email="grace@example.com", password="pw-123456789")
    client = Client()

    response = client.post("/accounts/login/", {"username": "grace@example.com", "password": "pw-123456789"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "signed in as grace@example.com" in client.get("/").content.decode()


def test_a_wrong_password_says_so():
    page = Client().post("/accounts/login/", {"username": "x@example.com", "password": "nope"}).content.decode()
    assert "Your email or password did not match" in page
