"""seed_demo's baskets: one of each state staff meet in the admin, spread over the last 30 days, so
the abandoned-basket list, its filters and the recovery dashboard show something on first run.

Each basket is made by the services (basket_initiate, promo_code_apply, basket_transition, the
recovery service's record of a sent email), so its total, events and recovery fields are the
real ones; then its timestamps are moved back to when the story says it happened. Idempotent: the
baskets carry `source = "demo"` and are only made when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import Application

from baskets import selectors as basket_selectors
from baskets import services as basket_services
from baskets.locks import lock_basket
from baskets.models import Basket, BasketEvent, BasketStatus, EmailSuppression, RecoveryEmail, RecoveryStatus
from baskets.services.recovery import recovery_email_record_sent
from checkout_project.api.actor import Actor
from subscriptions.models import Offer

SOURCE = "demo"


@dataclass(frozen=True)
class DemoBasket:
    """A basket's story: who, what, when its last activity was (hours ago) and how it ended."""

    first_name: str
    last_name: str
    email: str
    items: tuple[tuple[str, int], ...]  # (offer path, quantity)
    hours_ago: float
    state: str  # fresh, abandoned, emailed, emailed_twice, unsubscribed, opened, recovered, completed, expired
    promo_code: str = ""


ANNUAL, MONTHLY, PREMIUM = "/offers/digital-annual", "/offers/digital-monthly", "/offers/premium"
CROSSWORD, ARCHIVE = "/offers/crossword", "/offers/archive"
DAY = 24

STORIES = (
    DemoBasket("Ada", "Lovelace", "ada.lovelace@example.com", ((ANNUAL, 1), (CROSSWORD, 1)), 0.2, "fresh"),
    DemoBasket("Alan", "Turing", "alan.turing@example.com", ((MONTHLY, 1),), 3, "abandoned"),
    DemoBasket("", "", "", ((PREMIUM, 1),), 5, "abandoned"),
    DemoBasket("Barbara", "Liskov", "barbara.liskov@example.com", ((PREMIUM, 1), (ARCHIVE, 1)), 20, "emailed"),
    DemoBasket("Edsger", "Dijkstra", "edsger@example.com", ((ANNUAL, 1),), 30, "unsubscribed"),
    DemoBasket("Margaret", "Hamilton", "margaret.hamilton@example.com", ((MONTHLY, 2),), 50, "emailed_twice"),
    DemoBasket("Donald", "Knuth", "don.knuth@example.com", ((ANNUAL, 1), (ARCHIVE, 1)), 70, "opened", "SPRING20"),
    DemoBasket("Frances", "Allen", "frances.allen@example.com", ((PREMIUM, 1),), 26, "recovered"),
    DemoBasket("John", "Backus", "john.backus@example.com", ((ANNUAL, 1),), 4 * DAY, "recovered"),
    DemoBasket("Radia", "Perlman", "radia.perlman@example.com", ((MONTHLY, 1),), 6 * DAY, "abandoned"),
    DemoBasket("Ken", "Thompson", "ken.thompson@example.com", ((PREMIUM, 2),), 9 * DAY, "emailed"),
    DemoBasket("Tim", "Berners-Lee", "tim.bl@example.com", ((MONTHLY, 1), (CROSSWORD, 1)), 12 * DAY, "completed"),
    DemoBasket("Sophie", "Wilson", "sophie.wilson@example.com", ((ANNUAL, 1),), 15 * DAY, "recovered"),
    DemoBasket("Dennis", "Ritchie", "dennis.ritchie@example.com", ((PREMIUM, 1),), 18 * DAY, "expired"),
    DemoBasket("Leslie", "Lamport", "leslie.lamport@example.com", ((MONTHLY, 1),), 22 * DAY, "expired"),
    DemoBasket("Hedy", "Lamarr", "hedy.lamarr@example.com", ((ANNUAL, 1), (CROSSWORD, 1)), 27 * DAY, "completed"),
)


def _order(story: DemoBasket, offers: dict[str, Offer]) -> dict[str, Any]:
    return {
        "orderItems": [{"offer": {"id": offers[path].pk}, "quantity": quantity} for path, quantity in story.items],
        "customerDetails": {"email": story.email, "firstName": story.first_name, "lastName": story.last_name},
        "source": SOURCE,
    }


def _send(basket: Basket, *, staff: Any, at: datetime, step: str = "") -> None:
    """A recovery email sent at `at`, recorded as the recovery service records one (no mail goes out)."""
    email = RecoveryEmail.objects.create(
        basket=basket, step=step, sent_by=staff if not step else None, to_email=basket.email
    )
    recovery_email_record_sent(recovery_email_id=email.id, now=at)
    RecoveryEmail.objects.filter(pk=email.pk).update(created=at)
    BasketEvent.objects.filter(basket=basket, kind="recovery_email_sent", data__recoveryEmail=str(email.id)).update(
        created=at
    )


def _open(basket: Basket, *, at: datetime) -> None:
    """The customer followed the latest email's link at `at` (attribution as the link records it)."""
    email = RecoveryEmail.objects.filter(basket=basket, status=RecoveryEmail.Status.SENT).order_by("-created").first()
    assert email is not None
    RecoveryEmail.objects.filter(pk=email.pk).update(opened_at=at)
    Basket.objects.filter(pk=basket.pk).update(recovery_opened_at=at, recovery_status=RecoveryStatus.OPENED)
    basket.refresh_from_db()
    event = basket_services.basket_record_event(
        basket=basket,
        actor=Actor(),
        kind="recovery_email_opened",
        data={"recoveryEmail": str(email.id), "step": email.step},
    )
    visit = basket_services.basket_record_event(
        basket=basket, actor=Actor(), kind="recovered", data={"link": "recover"}
    )
    BasketEvent.objects.filter(pk__in=[event.pk, visit.pk]).update(created=at)


def _complete(basket_id: Any, *, at: datetime, recovered: bool) -> None:
    """Completed at `at` through the status machine (no payment gateway: a demo order)."""
    basket = lock_basket(Basket.objects.select_related("promo_code"), basket_id)
    assert basket is not None
    items = basket_selectors.basket_items(basket)
    quote = basket_selectors.basket_quote(basket, items, now=at)
    also_save = []
    if recovered:
        basket.recovery_status = RecoveryStatus.RECOVERED
        basket.recovered_at = at
        basket.recovered_amount = quote.total
        also_save = ["recovery_status", "recovered_at", "recovered_amount"]
    basket_services.basket_transition(
        basket=basket,
        to=BasketStatus.COMPLETED,
        actor=Actor(),
        data={"totals": quote.totals.to_wire(), "demo": True},
        also_save=also_save,
        at=at,
    )


@transaction.atomic
def seed_demo_baskets(*, offers: list[Offer], storefront: Application, staff: Any) -> int:
    """The demo baskets (STORIES), once; how many there are."""
    existing = Basket.objects.filter(source=SOURCE).count()
    if existing:
        return existing
    by_path = {offer.path: offer for offer in offers}
    actor = Actor(application=storefront)
    staff_actor = Actor(user=staff, is_staff=True)
    now = timezone.now()
    EmailSuppression.objects.get_or_create(email="edsger@example.com")
    for story in STORIES:
        change = basket_services.basket_initiate(actor=actor, order=_order(story, by_path))
        basket = change.basket
        if story.promo_code:
            basket_services.promo_code_apply(actor=staff_actor, basket_id=basket.id, code=story.promo_code)
        last_activity = now - timedelta(hours=story.hours_ago)
        created = last_activity - timedelta(minutes=25)
        Basket.objects.filter(pk=basket.pk).update(
            created=created, updated=last_activity, expires_at=created + settings.BASKET_LIFETIME
        )
        BasketEvent.objects.filter(basket=basket, kind="created").update(created=created)
        BasketEvent.objects.filter(basket=basket).exclude(kind="created").update(created=last_activity)
        basket.refresh_from_db()
        state = story.state
        if state == "unsubscribed":
            skipped = RecoveryEmail.objects.create(
                basket=basket, step="1h", to_email=basket.email, status=RecoveryEmail.Status.SKIPPED,
                reason="address unsubscribed",
            )  # fmt: skip
            RecoveryEmail.objects.filter(pk=skipped.pk).update(created=last_activity + timedelta(hours=1))
        if state in {"emailed", "emailed_twice", "opened", "recovered"}:
            _send(basket, staff=None, at=last_activity + timedelta(hours=1), step="1h")
        if state == "emailed_twice":
            _send(basket, staff=None, at=last_activity + timedelta(hours=24), step="24h")
        if state == "emailed" and story.hours_ago > 100:
            _send(basket, staff=staff, at=last_activity + timedelta(hours=30))
        if state in {"opened", "recovered"}:
            _open(basket, at=last_activity + timedelta(hours=2, minutes=10))
        if state in {"recovered", "completed"}:
            finished = last_activity + timedelta(hours=2, minutes=25) if state == "recovered" else last_activity
            _complete(basket.id, at=min(finished, now), recovered=state == "recovered")
        elif state == "expired":
            basket_services.basket_transition(
                basket=lock_basket(Basket.objects.all(), basket.id),  # type: ignore[arg-type]
                to=BasketStatus.EXPIRED,
                actor=Actor(),
                data={"reason": "lifetime_over"},
                at=created + settings.BASKET_LIFETIME,
            )
    return Basket.objects.filter(source=SOURCE).count()
