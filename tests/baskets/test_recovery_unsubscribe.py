"""The unsubscribe link of recovery emails: signed per address, GET confirms, POST unsubscribes
(also as a mail client's one-click POST, without a CSRF token), a tampered link is refused (400)."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from baskets.models import EmailSuppression
from baskets.recovery_mail import unsubscribe_token

pytestmark = pytest.mark.django_db


def url(token: str) -> str:
    return reverse("recovery-unsubscribe", kwargs={"token": token})


def test_get_asks_for_confirmation_and_changes_nothing(client):
    response = client.get(url(unsubscribe_token("Grace@Example.com")))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Unsubscribe from basket reminders" in body
    assert "<strong>g…@example.com</strong>" in body  # the address, masked
    assert '<form method="post">' in body
    assert "checkout/checkout.css" in body  # the hosted pages' look
    assert "form-action 'self'" in response["Content-Security-Policy"]
    assert response["Cache-Control"].startswith("max-age=0")
    assert not EmailSuppression.objects.exists()


def test_post_unsubscribes_that_address_once():
    browser = Client(enforce_csrf_checks=True)
    token = unsubscribe_token("Grace@Example.com")

    first = browser.post(url(token))
    again = browser.post(url(token))

    assert first.status_code == again.status_code == 200
    assert "You are unsubscribed" in first.content.decode()
    assert list(EmailSuppression.objects.values_list("email", flat=True)) == ["grace@example.com"]


def test_a_mail_clients_one_click_post_unsubscribes():
    mail_client = Client(enforce_csrf_checks=True)

    response = mail_client.post(
        url(unsubscribe_token("grace@example.com")),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert EmailSuppression.objects.filter(email="grace@example.com").exists()


def someone_elses_address() -> str:
    """Grace's token with Alice's address in place of hers (the payload, before the signature)."""
    payload, _, signature = unsubscribe_token("grace@example.com").partition(":")
    alice_payload = unsubscribe_token("alice@example.com").partition(":")[0]
    assert alice_payload != payload
    return f"{alice_payload}:{signature}"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda: unsubscribe_token("grace@example.com")[:-2] + "xx",
        someone_elses_address,
        lambda: signing.dumps("grace@example.com", salt="baskets.links.recover"),
        lambda: signing.dumps("not an address", salt="baskets.recovery.unsubscribe"),
        lambda: "nonsense",
    ],
    ids=["tampered signature", "someone else's address", "signed for something else", "not an address", "nonsense"],
)
def test_a_tampered_or_foreign_token_is_refused_and_unsubscribes_nobody(client, make_token):
    token = make_token()
    for response in (client.get(url(token)), client.post(url(token))):
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.content.decode()
    assert not EmailSuppression.objects.exists()


def test_other_methods_are_not_allowed(client):
    assert client.put(url(unsubscribe_token("grace@example.com"))).status_code == 405
    assert not EmailSuppression.objects.exists()
