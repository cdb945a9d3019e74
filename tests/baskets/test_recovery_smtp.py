"""A recovery email delivered end to end: queued by staff, sent by the task worker (`db_worker`)
through Django's SMTP backend to a real SMTP server (aiosmtpd, started on a free port by the
test and stopped after it), and read back as received: subject, both parts, the links, the headers.
The backend fails the test if it is ever used while a database transaction is open."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from baskets import services
from baskets.models import Basket, RecoveryEmail
from baskets.recovery_mail import email_reference, parse_unsubscribe_token
from tests.factories import BasketFactory, OrderItemFactory, UserFactory
from tests.smtp_server import smtp_mailers, smtp_server

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker() -> None:
    """What `manage.py db_worker` does with the tasks that are due, once."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)


def test_a_recovery_email_reaches_a_real_smtp_server(settings, offer):
    settings.SITE_URL = "https://shop.example"
    settings.MERCHANT_NAME = "The Daily"
    settings.DEFAULT_FROM_EMAIL = "Shop <basket@shop.example>"
    now = timezone.now()
    basket = BasketFactory(
        email="grace@example.com",
        first_name="Grace",
        created=now - timedelta(hours=3),
        updated=now - timedelta(hours=2),
    )
    OrderItemFactory(basket=basket, offer=offer, quantity=2)
    staff = UserFactory(email="ada@example.com", is_staff=True)

    with smtp_server() as server:
        settings.MAILERS = smtp_mailers(server.port, backend="tests.smtp_server.AssertingSmtpBackend")
        email = services.recovery_email_queue(basket=basket, sent_by=staff)
        assert server.messages == []  # queued; the worker sends it
        run_worker()
        [(mail_from, recipients)] = server.handler.envelopes
        [message] = server.messages

    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 1)
    assert Basket.objects.get().recovery_status == "emailed"
    assert (mail_from, recipients) == ("basket@shop.example", ["grace@example.com"])
    assert message["Subject"] == "Your The Daily basket is waiting for you"
    assert message["From"] == "Shop <basket@shop.example>"
    assert message["To"] == "grace@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(https://shop\.example/email/unsubscribe/(\S+))>", message["List-Unsubscribe"])
    assert unsubscribe is not None and parse_unsubscribe_token(unsubscribe[2]) == "grace@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "- Digital monthly x2: £12.99 every 1 month" in text
    assert "Total: £25.98" in text
    link = re.search(r"https://shop\.example/api/checkout/recover\?\S+", text)[0]
    query = parse_qs(urlsplit(link).query)
    assert (query["basketId"], query["re"]) == ([basket.public_id], [email_reference(email.id)])
    assert link.replace("&", "&amp;") in html
    assert unsubscribe[1] in text and unsubscribe[1] in html
    assert "<strong>£25.98</strong>" in html
    assert RecoveryEmail.objects.count() == 1
