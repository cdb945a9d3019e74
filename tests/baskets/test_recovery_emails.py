"""Recovery emails (issue 15, the sending half): what counts as abandoned, queueing and its skip
rules, sending with retries, the message, the schedule, bulk sends, attribution of a link visit and
the completion after it. The real-SMTP delivery and the two-process scheduler are in
test_recovery_smtp.py and test_recovery_schedule_concurrency.py."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from baskets import selectors, services
from baskets.errors import BasketNotFound
from baskets.models import Basket, BasketEvent, BasketStatus, EmailSuppression, RecoveryEmail, RecoveryStatus
from baskets.recovery_mail import email_reference
from baskets.services.recovery import SEND_BACKOFF, SEND_MAX_ATTEMPTS, recovery_emails_queue_many
from baskets.services.recovery import _queue as queue_emails
from checkout_project.api.actor import Actor
from tests.factories import BasketFactory, OrderItemFactory, PromoCodeFactory, UserFactory
from tests.smtp_server import free_port, smtp_mailers, smtp_server
from tests.statements import max_data_statements

pytestmark = pytest.mark.django_db

SEND_TASK = "baskets.tasks.recovery_email_send_task"


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "https://shop.example"
    settings.MERCHANT_NAME = "The Daily"
    settings.DEFAULT_FROM_EMAIL = "basket@shop.example"
    settings.ABANDONED_AFTER_MINUTES = 60
    settings.RECOVERY_EMAIL_SCHEDULE = [("1h", timedelta(hours=1)), ("24h", timedelta(hours=24))]
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    return settings


@pytest.fixture
def staff():
    return UserFactory(email="ada@example.com", is_staff=True)


def abandoned(offer, *, idle: timedelta = timedelta(hours=2), email: str = "grace@example.com", **fields) -> Basket:
    now = timezone.now()
    fields.setdefault("created", now - idle - timedelta(minutes=1))
    fields.setdefault("first_name", "Grace")
    basket = BasketFactory(email=email, updated=now - idle, **fields)
    OrderItemFactory(basket=basket, offer=offer)
    return basket


def send_tasks() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=SEND_TASK).order_by("enqueued_at"))


def queue(django_capture_on_commit_callbacks, **kwargs) -> RecoveryEmail:
    with django_capture_on_commit_callbacks(execute=True):
        return services.recovery_email_queue(**kwargs)


def send(email: RecoveryEmail, now=None) -> RecoveryEmail:
    sent = services.recovery_email_send(recovery_email_id=email.id, now=now)
    assert sent is not None
    return sent


# --- What counts as abandoned ----------------------------------------------------------------------


def test_abandoned_means_active_in_its_lifetime_and_idle_for_abandoned_after_minutes(settings, offer):
    now = timezone.now()
    idle = abandoned(offer, idle=timedelta(minutes=61))
    fresh = abandoned(offer, idle=timedelta(minutes=10))
    abandoned(offer, status=BasketStatus.COMPLETED)
    abandoned(offer, status=BasketStatus.EXPIRED)
    abandoned(offer, expires_at=now - timedelta(seconds=1))  # its lifetime is over, not swept yet

    assert set(selectors.abandoned_for_recovery(now)) == {idle}
    settings.ABANDONED_AFTER_MINUTES = 5
    assert set(selectors.abandoned_for_recovery(now)) == {idle, fresh}
    assert selectors.abandoned_cutoff(now) == now - timedelta(minutes=5)


# --- Queueing and its skip rules -------------------------------------------------------------------


def test_a_staff_email_is_queued_and_its_send_task_enqueued_on_commit(django_capture_on_commit_callbacks, offer, staff):
    basket = abandoned(offer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email = services.recovery_email_queue(basket=basket, sent_by=staff)
        assert send_tasks() == []  # nothing enqueued while the transaction is open
    for callback in callbacks:
        callback()

    assert (email.status, email.step, email.reason, email.to_email, email.sent_by) == (
        "queued", "", "", "grace@example.com", staff,
    )  # fmt: skip
    [task] = send_tasks()
    assert task.args_kwargs == {"args": [str(email.id)], "kwargs": {}}
    assert mail.outbox == []  # sent by the worker, not by the request


def test_a_queued_email_makes_the_basket_live_as_long_as_its_link(
    django_capture_on_commit_callbacks, settings, offer, staff
):
    # API.md §5: the emailed recovery link is valid LINK_LIFETIME; its basket must not expire first.
    basket = abandoned(offer, expires_at=timezone.now() + timedelta(days=2))
    version = basket.version
    before = timezone.now()

    queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)

    basket.refresh_from_db()
    assert basket.expires_at >= before + settings.LINK_LIFETIME
    assert basket.version == version + 1
    event = BasketEvent.objects.get(basket=basket, kind="lifetime_extended")
    assert event.staff_user == staff


def test_a_skipped_email_leaves_the_basket_lifetime_alone(django_capture_on_commit_callbacks, offer, staff):
    expires_at = timezone.now() + timedelta(days=2)
    basket = abandoned(offer, email="", expires_at=expires_at)

    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)

    basket.refresh_from_db()
    assert email.status == RecoveryEmail.Status.SKIPPED
    assert basket.expires_at == expires_at
    assert not BasketEvent.objects.filter(basket=basket, kind="lifetime_extended").exists()


@pytest.mark.parametrize(
    ("fields", "suppressed", "reason"),
    [
        ({"email": ""}, False, "no email address"),
        ({"email": "Grace@Example.com"}, True, "address unsubscribed"),
        ({"status": BasketStatus.COMPLETED}, False, "basket completed"),
        ({"status": BasketStatus.EXPIRED}, False, "basket expired"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, False, "basket expired"),
    ],
)
def test_a_basket_that_must_not_be_emailed_is_skipped_with_the_reason(
    django_capture_on_commit_callbacks, offer, staff, fields, suppressed, reason
):
    if suppressed:
        services.email_unsubscribe(address="GRACE@example.com ")
    basket = abandoned(offer, **fields)

    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)

    assert (email.status, email.reason) == ("skipped", reason)
    assert RecoveryEmail.objects.get().reason == reason
    assert send_tasks() == []
    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovery_emails_sent) == ("not_contacted", 0)


def test_a_schedule_step_is_queued_once_per_basket(django_capture_on_commit_callbacks, offer):
    basket = abandoned(offer)

    first = queue(django_capture_on_commit_callbacks, basket=basket, step="1h")
    again = queue(django_capture_on_commit_callbacks, basket=basket, step="1h")
    other_step = queue(django_capture_on_commit_callbacks, basket=basket, step="24h")

    assert again == first
    assert RecoveryEmail.objects.filter(basket=basket).count() == 2
    assert {email.step for email in RecoveryEmail.objects.all()} == {"1h", "24h"} == {first.step, other_step.step}
    assert len(send_tasks()) == 2


def test_a_step_another_scheduler_wrote_meanwhile_is_left_out_not_duplicated(django_capture_on_commit_callbacks, offer):
    """The race the unique constraint settles: the step was written after this batch's query
    read the basket (INSERT ... ON CONFLICT DO NOTHING, then only the rows written are queued)."""
    basket = abandoned(offer)
    other = abandoned(offer, email="ada@example.com")
    RecoveryEmail.objects.create(basket=basket, step="1h", status="queued", to_email=basket.email)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        written = queue_emails([basket, other], step="1h", sent_by=None, now=timezone.now())

    assert [email.basket_id for email in written] == [other.pk]
    assert RecoveryEmail.objects.filter(basket=basket).count() == 1
    assert [task.args_kwargs["args"] for task in send_tasks()] == [[str(written[0].id)]]


def test_a_staff_email_has_no_step_and_a_basket_gone_is_not_found(offer, staff):
    basket = abandoned(offer)
    with pytest.raises(ValueError, match="no schedule step"):
        services.recovery_email_queue(basket=basket, sent_by=staff, step="1h")
    basket_id = basket.pk
    Basket.objects.filter(pk=basket_id).delete()
    with pytest.raises(BasketNotFound):
        services.recovery_email_queue(basket=Basket(pk=basket_id), sent_by=staff)
    assert not RecoveryEmail.objects.exists()


# --- Sending -------------------------------------------------------------------------------------


def test_a_sent_email_marks_the_basket_emailed_with_an_event(django_capture_on_commit_callbacks, offer, staff):
    basket = abandoned(offer)
    last_activity = basket.updated
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)
    # Queueing extended the basket's lifetime to its link's (a new version); sending changes neither.
    before = Basket.objects.values_list("version", "updated").get(pk=basket.pk)
    assert before[1] == last_activity

    sent = send(email)

    assert (sent.status, sent.attempts, sent.reason, sent.next_attempt_at) == ("sent", 1, "", None)
    assert sent.sent_at is not None
    [message] = mail.outbox
    assert message.to == ["grace@example.com"]
    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovery_emails_sent, basket.recovery_last_emailed_at) == (
        RecoveryStatus.EMAILED, 1, sent.sent_at,
    )  # fmt: skip
    # An email is no activity of the customer's: the basket's version and last activity stay.
    assert (basket.version, basket.updated) == before
    [event] = BasketEvent.objects.filter(kind="recovery_email_sent")
    assert event.data == {
        "recoveryEmail": str(email.id),
        "step": "",
        "sentBy": "ada@example.com",
        "to": "grace@example.com",
    }
    assert (event.staff_user, event.version) == (staff, basket.version)


def test_sending_twice_sends_once(django_capture_on_commit_callbacks, offer, staff):
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)

    send(email)
    again = send(email)

    assert again.status == "sent"
    assert len(mail.outbox) == 1
    assert Basket.objects.get().recovery_emails_sent == 1


def test_an_email_claimed_by_another_worker_is_left_to_it(django_capture_on_commit_callbacks, offer, staff):
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)
    RecoveryEmail.objects.filter(pk=email.pk).update(attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert send(email).status == "queued"
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda basket: services.email_unsubscribe(address=basket.email), "address unsubscribed"),
        (lambda basket: Basket.objects.filter(pk=basket.pk).update(status="completed"), "basket completed"),
        (lambda basket: Basket.objects.filter(pk=basket.pk).update(status="expired"), "basket expired"),
    ],
)
def test_the_skip_rules_are_checked_again_when_sending(
    django_capture_on_commit_callbacks, offer, staff, change, reason
):
    basket = abandoned(offer)
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)
    change(basket)

    skipped = send(email)

    assert (skipped.status, skipped.reason, skipped.attempts) == ("skipped", reason, 0)
    assert mail.outbox == []


def test_a_scheduled_email_is_skipped_when_the_customer_came_back(django_capture_on_commit_callbacks, offer):
    basket = abandoned(offer)
    email = queue(django_capture_on_commit_callbacks, basket=basket, step="1h")
    Basket.objects.filter(pk=basket.pk).update(updated=timezone.now() + timedelta(seconds=1))

    assert (send(email).status, send(email).reason) == ("skipped", "customer came back")
    assert mail.outbox == []


def test_an_empty_basket_is_skipped_when_sending_and_never_scheduled(django_capture_on_commit_callbacks, staff):
    empty = BasketFactory(email="grace@example.com", updated=timezone.now() - timedelta(hours=3))
    email = queue(django_capture_on_commit_callbacks, basket=empty, sent_by=staff)

    assert (send(email).status, send(email).reason) == ("skipped", "basket empty")
    assert services.recovery_schedule_run() == {"24h": 0, "1h": 0}
    assert mail.outbox == []


def test_an_email_whose_last_attempt_died_mid_send_fails_instead_of_looping(
    django_capture_on_commit_callbacks, offer, staff
):
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)
    past = timezone.now() - timedelta(minutes=1)
    RecoveryEmail.objects.filter(pk=email.pk).update(attempts=SEND_MAX_ATTEMPTS, next_attempt_at=past)

    failed = send(email)

    assert (failed.status, failed.reason) == (
        "failed",
        f"failed after {SEND_MAX_ATTEMPTS} attempt(s): the last attempt did not finish",
    )
    assert mail.outbox == []


def test_without_site_url_the_email_fails_at_once_with_the_reason(settings, django_capture_on_commit_callbacks, offer):
    settings.SITE_URL = ""
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), step="1h")

    with django_capture_on_commit_callbacks(execute=True):
        failed = send(email)

    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.reason == "failed after 1 attempt(s): SITE_URL is not set"
    assert len(send_tasks()) == 1  # no retry
    assert BasketEvent.objects.get(kind="recovery_email_failed").data["reason"] == failed.reason


# --- Retries (a real SMTP server refusing, then accepting) -----------------------------------------


@pytest.fixture
def smtp(settings):
    with smtp_server() as server:
        settings.MAILERS = smtp_mailers(server.port)
        yield server


def test_a_refused_send_is_retried_with_backoff_then_sent(smtp, django_capture_on_commit_callbacks, offer, staff):
    smtp.refuse(2)
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)
    now = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        first = send(email, now=now)

    assert (first.status, first.attempts, first.next_attempt_at) == ("queued", 1, now + SEND_BACKOFF[0])
    assert first.reason.startswith("attempt 1 failed: SMTPDataError: (451")
    retry = send_tasks()[-1]
    assert (retry.args_kwargs["args"], retry.run_after) == ([str(email.id)], now + SEND_BACKOFF[0])
    assert send(email, now=now + timedelta(seconds=30)).attempts == 1  # not due yet: not tried

    with django_capture_on_commit_callbacks(execute=True):
        second = send(email, now=first.next_attempt_at)
    assert (second.status, second.attempts, second.next_attempt_at) == (
        "queued",
        2,
        first.next_attempt_at + SEND_BACKOFF[1],
    )

    third = send(email, now=second.next_attempt_at)
    assert (third.status, third.attempts, third.reason) == ("sent", 3, "")
    assert len(smtp.messages) == 1
    assert Basket.objects.get().recovery_emails_sent == 1


def test_after_the_last_attempt_the_email_failed_with_the_reason(
    smtp, django_capture_on_commit_callbacks, offer, staff
):
    smtp.refuse(100)
    basket = abandoned(offer)
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)
    now = timezone.now()

    for _ in range(SEND_MAX_ATTEMPTS):
        with django_capture_on_commit_callbacks(execute=True):
            email = send(email, now=now)
        now = email.next_attempt_at or now

    assert (email.status, email.attempts, email.next_attempt_at) == ("failed", SEND_MAX_ATTEMPTS, None)
    assert email.reason.startswith(f"failed after {SEND_MAX_ATTEMPTS} attempt(s): SMTPDataError")
    assert len(send_tasks()) == SEND_MAX_ATTEMPTS  # the first, then one per retry
    assert send(email, now=now + timedelta(days=1)).status == "failed"  # never tried again
    [event] = BasketEvent.objects.filter(kind="recovery_email_failed")
    assert event.data == {"recoveryEmail": str(email.id), "step": "", "reason": email.reason}
    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovery_emails_sent) == ("not_contacted", 0)


def test_an_unreachable_mail_server_is_retried(settings, django_capture_on_commit_callbacks, offer, staff):
    settings.MAILERS = smtp_mailers(free_port())  # nothing listens there
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)

    with django_capture_on_commit_callbacks(execute=True):
        failed = send(email)

    assert (failed.status, failed.attempts) == ("queued", 1)
    assert failed.reason.startswith("attempt 1 failed: ConnectionRefusedError")


# --- The message ---------------------------------------------------------------------------------


def test_the_message_has_the_items_totals_promo_code_links_and_unsubscribe_headers(
    django_capture_on_commit_callbacks, offer, staff
):
    basket = abandoned(offer, first_name="Grace")
    basket.promo_code = PromoCodeFactory(code="SPRING20")
    basket.save(update_fields=["promo_code"])
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)

    send(email)

    [message] = mail.outbox
    assert message.subject == "Your The Daily basket is waiting for you"
    assert message.from_email == "The Daily <basket@shop.example>"
    unsubscribe = re.search(r"https://shop\.example/email/unsubscribe/\S+", message.body)[0]
    assert message.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"https://shop\.example/api/checkout/recover\?\S+", message.body)[0]
    query = parse_qs(urlsplit(link).query)
    assert query["basketId"] == [basket.public_id]
    assert query["re"] == [email_reference(email.id)]
    text = message.body
    assert "Hello Grace," in text
    assert "- Digital monthly: £12.99 every 1 month" in text
    assert "Subtotal: £12.99\nDiscount: -£2.60\nTotal: £10.39\nDue today: £10.39" in text
    assert "Your promo code SPRING20 is applied." in text
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<strong>Digital monthly</strong>" in html
    assert "Discount (SPRING20)" in html and "&minus;£2.60" in html and "<strong>£10.39</strong>" in html
    assert f'href="{link.replace("&", "&amp;")}"' in html
    assert f'href="{unsubscribe}"' in html


def test_the_message_says_our_shop_without_a_merchant_name(settings, django_capture_on_commit_callbacks, offer, staff):
    settings.MERCHANT_NAME = ""
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)

    send(email)

    [message] = mail.outbox
    assert (message.subject, message.from_email) == ("Your basket is waiting for you", "basket@shop.example")
    assert "You left something in your basket at our shop." in message.body


# --- The schedule --------------------------------------------------------------------------------


def test_the_schedule_queues_each_due_step_once_and_only_the_latest_for_long_idle_baskets(
    django_capture_on_commit_callbacks, offer
):
    now = timezone.now()
    not_yet = abandoned(offer, idle=timedelta(minutes=30))
    due_1h = abandoned(offer, idle=timedelta(hours=2))
    due_24h_only = abandoned(offer, idle=timedelta(hours=25))
    had_1h = abandoned(offer, idle=timedelta(hours=3))
    had_1h_due_24h = abandoned(offer, idle=timedelta(hours=26))
    no_address = abandoned(offer, idle=timedelta(hours=2), email="")
    for basket in (had_1h, had_1h_due_24h):
        RecoveryEmail.objects.create(basket=basket, step="1h", status="sent", to_email=basket.email)

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.recovery_schedule_run(now)

    assert counts == {"24h": 2, "1h": 2}
    steps = {(email.basket_id, email.step): (email.status, email.reason) for email in RecoveryEmail.objects.all()}
    assert steps == {
        (had_1h.pk, "1h"): ("sent", ""),
        (had_1h_due_24h.pk, "1h"): ("sent", ""),
        (due_1h.pk, "1h"): ("queued", ""),
        (due_24h_only.pk, "24h"): ("queued", ""),
        (had_1h_due_24h.pk, "24h"): ("queued", ""),
        (no_address.pk, "1h"): ("skipped", "no email address"),
    }
    assert not RecoveryEmail.objects.filter(basket=not_yet).exists()
    assert len(send_tasks()) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recovery_schedule_run(now) == {"24h": 0, "1h": 0}
    assert len(send_tasks()) == 3


def test_the_command_runs_the_schedule_in_batches_and_reports(django_capture_on_commit_callbacks, offer):
    for _ in range(5):
        abandoned(offer, idle=timedelta(hours=2))
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_recovery_emails", "--batch-size", "2", "--json", stdout=out)

    assert out.getvalue().strip() == '{"sends_requeued": 0, "step_1h": 5, "step_24h": 0}'
    assert RecoveryEmail.objects.filter(step="1h", status="queued").count() == 5
    out = StringIO()
    call_command("send_recovery_emails", stdout=out)
    assert out.getvalue().strip() == "Baskets taken per step: 24h: 0, 1h: 0; re-enqueued 0 send(s)."


def test_an_empty_schedule_queues_nothing(settings, offer):
    settings.RECOVERY_EMAIL_SCHEDULE = []
    abandoned(offer, idle=timedelta(days=2))

    assert services.recovery_schedule_run() == {}
    assert not RecoveryEmail.objects.exists()


def test_the_sweep_re_enqueues_sends_a_lost_task_left_queued(django_capture_on_commit_callbacks, offer, staff):
    email = queue(django_capture_on_commit_callbacks, basket=abandoned(offer), sent_by=staff)
    DBTaskResult.objects.all().delete()  # the task was lost
    now = timezone.now()

    assert services.recovery_emails_retry_due(now=now, batch_size=10) == 0  # too recent: its task may still run
    with django_capture_on_commit_callbacks(execute=True):
        assert services.recovery_emails_retry_due(now=now + timedelta(minutes=11), batch_size=10) == 1
    assert [task.args_kwargs["args"] for task in send_tasks()] == [[str(email.id)]]


# --- Bulk ----------------------------------------------------------------------------------------


def test_bulk_queueing_counts_queued_skipped_by_reason_and_not_found(django_capture_on_commit_callbacks, offer, staff):
    services.email_unsubscribe(address="gone@example.com")
    baskets = [
        abandoned(offer),
        abandoned(offer, email="ada@example.com"),
        abandoned(offer, email=""),
        abandoned(offer, email="gone@example.com"),
        abandoned(offer, status=BasketStatus.COMPLETED),
    ]
    ids = [str(basket.pk) for basket in baskets] + [str(uuid.uuid4())]

    with django_capture_on_commit_callbacks(execute=True):
        summary = recovery_emails_queue_many(basket_ids=ids, sent_by_id=staff.pk)

    assert summary.to_dict() == {
        "baskets": 6,
        "queued": 2,
        "skipped": {"no email address": 1, "address unsubscribed": 1, "basket completed": 1},
        "notFound": 1,
    }
    assert set(RecoveryEmail.objects.values_list("sent_by", flat=True)) == {staff.pk}
    assert len(send_tasks()) == 2


def test_bulk_queueing_returns_at_once_with_a_task_result_id(offer, staff):
    baskets = [abandoned(offer) for _ in range(3)]

    result_id = services.recovery_emails_queue_bulk(basket_ids=[b.pk for b in baskets] + [baskets[0].pk], sent_by=staff)

    assert not RecoveryEmail.objects.exists()  # the worker queues them
    task = DBTaskResult.objects.get(id=result_id)
    assert task.task_path == "baskets.tasks.recovery_emails_bulk_task"
    assert task.args_kwargs == {"args": [[str(b.pk) for b in baskets], staff.pk], "kwargs": {}}
    result = selectors.recovery_bulk_result(result_id)
    assert (result.status, result.summary) == ("READY", None)
    assert selectors.recovery_bulk_result(str(uuid.uuid4())) is None
    with pytest.raises(ValueError):
        services.recovery_emails_queue_bulk(basket_ids=["not-a-uuid"], sent_by=staff)


def test_bulk_queueing_of_thousands_takes_a_bounded_number_of_statements_per_chunk(
    django_capture_on_commit_callbacks, offer
):
    now = timezone.now()
    application = BasketFactory().application
    baskets = Basket.objects.bulk_create(
        Basket(
            created=now - timedelta(hours=3), updated=now - timedelta(hours=2), expires_at=now + timedelta(days=1),
            application=application, currency="GBP", email=f"c{n}@example.com" if n % 2 else "",
        )
        for n in range(2000)
    )  # fmt: skip
    ids = [str(basket.pk) for basket in baskets]

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False):
        summary = recovery_emails_queue_many(basket_ids=ids, sent_by_id=None)

    assert summary.queued == 1000
    assert summary.skipped == {"no email address": 1000}
    chunks = -(-len(ids) // 200)
    # Per chunk: its transaction, the lock, the suppression lookup, the insert (the sends are enqueued on commit),
    # and the queued baskets' lifetimes extended to their links' (one UPDATE, one INSERT of their events).
    assert len(queries) <= 9 * chunks + 2
    assert Basket.objects.filter(pk__in=ids, expires_at__gt=now + timedelta(days=2)).count() == 1000


# --- Attribution ---------------------------------------------------------------------------------


def recovery_url(message) -> str:
    link = re.search(r"https://shop\.example(/api/checkout/recover\?\S+)", message.body)
    assert link is not None
    return link[1]


def test_a_visit_from_the_email_then_a_completion_marks_the_basket_recovered_with_the_amount(
    client, django_capture_on_commit_callbacks, offer, staff
):
    basket = abandoned(offer)
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)
    send(email)
    url = recovery_url(mail.outbox[0])

    response = client.get(url)

    assert response.status_code == 302
    email.refresh_from_db()
    basket.refresh_from_db()
    assert email.opened_at is not None
    assert (basket.recovery_status, basket.recovery_opened_at) == (RecoveryStatus.OPENED, email.opened_at)
    [opened] = BasketEvent.objects.filter(kind="recovery_email_opened")
    assert opened.data == {"recoveryEmail": str(email.id), "step": ""}
    assert client.get(url).status_code == 302  # a second visit records no second opening
    assert BasketEvent.objects.filter(kind="recovery_email_opened").count() == 1

    completed = services.basket_complete(actor=Actor(), basket_id=basket.pk, any_basket=True)

    basket.refresh_from_db()
    assert (basket.status, basket.recovery_status) == (BasketStatus.COMPLETED, RecoveryStatus.RECOVERED)
    assert (basket.recovered_at, basket.recovered_amount) == (basket.completed_at, Decimal("12.99"))
    assert completed.totals.total == Decimal("12.99")


def test_a_visit_without_or_with_a_forged_reference_records_no_opening(
    client, django_capture_on_commit_callbacks, offer, staff
):
    basket = abandoned(offer)
    other = abandoned(offer, email="ada@example.com")
    email = queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff)
    other_email = queue(django_capture_on_commit_callbacks, basket=other, sent_by=staff)
    send(email)
    send(other_email)
    url = recovery_url(mail.outbox[0])
    plain = url.split("&re=")[0]

    assert client.get(plain).status_code == 302
    assert client.get(url[:-3] + "xyz").status_code == 302  # tampered: the link still opens the basket
    assert client.get(f"{plain}&re={email_reference(other_email.id)}").status_code == 302  # another basket's email

    assert not RecoveryEmail.objects.filter(opened_at__isnull=False).exists()
    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovery_opened_at) == (RecoveryStatus.EMAILED, None)
    services.basket_complete(actor=Actor(), basket_id=basket.pk, any_basket=True)
    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovered_at, basket.recovered_amount) == (
        RecoveryStatus.EMAILED,
        None,
        None,
    )


def test_attribution_adds_no_statement_to_completion(django_capture_on_commit_callbacks, offer):
    plain = abandoned(offer)
    opened = abandoned(offer, email="ada@example.com")
    Basket.objects.filter(pk=opened.pk).update(recovery_status="opened", recovery_opened_at=timezone.now())

    counts = []
    for basket in (plain, opened):
        with CaptureQueriesContext(connection) as queries:
            services.basket_complete(actor=Actor(), basket_id=basket.pk, any_basket=True)
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert Basket.objects.get(pk=opened.pk).recovery_status == "recovered"
    assert Basket.objects.get(pk=plain.pk).recovery_status == "not_contacted"


def test_an_email_sent_after_the_link_was_opened_keeps_the_basket_opened(
    django_capture_on_commit_callbacks, offer, staff
):
    basket = abandoned(offer)
    Basket.objects.filter(pk=basket.pk).update(recovery_status="opened", recovery_opened_at=timezone.now())

    send(queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff))

    basket.refresh_from_db()
    assert (basket.recovery_status, basket.recovery_emails_sent) == ("opened", 1)


def test_unsubscribing_stores_the_address_once_lower_case():
    assert services.email_unsubscribe(address=" Grace@Example.COM") is True
    assert services.email_unsubscribe(address="grace@example.com") is False
    assert list(EmailSuppression.objects.values_list("email", flat=True)) == ["grace@example.com"]


def test_a_visit_from_an_email_costs_four_statements_more_once_and_one_after(
    client, django_capture_on_commit_callbacks, offer, staff
):
    """GET /api/checkout/recover costs 2 (tests/test_query_budgets.py); from an email, the first
    visit adds the email's UPDATE, the basket's UPDATE, the email's step and the event's INSERT;
    later visits only the email's UPDATE that finds it opened already."""
    basket = abandoned(offer)
    send(queue(django_capture_on_commit_callbacks, basket=basket, sent_by=staff))
    url = recovery_url(mail.outbox[0])

    with max_data_statements(6) as first:
        assert client.get(url).status_code == 302
    with max_data_statements(3) as again:
        assert client.get(url).status_code == 302

    assert (len(first), len(again)) == (6, 3), first.sql()
