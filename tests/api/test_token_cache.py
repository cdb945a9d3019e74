"""The token cache (checkout_project.api.token_cache; issue 16).

A checked token is kept in the shared cache; every write that can change its answer takes effect
on the next request, whichever worker or app server serves it, because they all read the same
cache: revoking the token, deactivating its user, changing its application's scopes, linking a
customer, deactivating its partner. Each case is run against both shared caches there are: the
default database cache and Redis (CACHE_URL; skipped where no Redis answers on 127.0.0.1:6379).
"""

from __future__ import annotations

import socket
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baskets.models import Basket
from checkout_project.api import token_cache
from checkout_project.api.auth import load_access_token
from subscriptions.models import Customer
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory, CustomerFactory, UserFactory
from tests.statements import DataStatements

pytestmark = pytest.mark.django_db

REDIS = ("127.0.0.1", 6379)


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=["database", "redis"])
def shared_cache(request, settings):
    """The default cache as the settings build it: the database cache, or Redis (CACHE_URL)."""
    if request.param == "redis":
        if not redis_answers():
            pytest.skip("no Redis server on 127.0.0.1:6379")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://{REDIS[0]}:{REDIS[1]}/0",
                "KEY_PREFIX": f"token-cache-test-{uuid.uuid4().hex}",
            }
        }
    assert settings.TOKEN_CACHE_SECONDS > 0
    return request.param


def initiate(api_client, token):
    return api_client.post("/api/checkout/initiate", {"order": {"orderItems": []}}, format="json", **bearer(token))


def cached(token) -> bool:
    return token_cache.cached_token(token.token_checksum) is not None


def token_queries(captured) -> list[str]:
    return [query["sql"] for query in captured if "oauth2_provider_accesstoken" in query["sql"]]


def test_a_checked_token_is_cached_and_the_next_request_does_not_load_it(api_client, shared_cache, storefront_token):
    assert not cached(storefront_token)
    assert initiate(api_client, storefront_token).status_code == 200
    assert cached(storefront_token)
    api_client.cookies.clear()

    with CaptureQueriesContext(connection) as captured:
        assert initiate(api_client, storefront_token).status_code == 200

    assert token_queries(captured) == []


def test_the_cache_key_is_the_tokens_checksum_never_the_token(api_client, storefront_token):
    initiate(api_client, storefront_token)

    assert cache.get(f"oauth-token:{storefront_token.token_checksum}") is not None
    assert cache.get(f"oauth-token:{storefront_token.token}") is None


@pytest.mark.django_db(transaction=True)
def test_a_hit_costs_the_statements_a_load_costs_and_a_miss_two_more(api_client, settings, storefront_token):
    # The query budgets (tests/test_query_budgets.py) are counted with the cache off: one statement
    # for the token. A hit replaces it with one read of the cache; a miss adds the cache's read and
    # write: with the database cache, the read and three statements for the write (an expired
    # row's DELETE, a look for the key, the INSERT), in a transaction of its own.
    def statements() -> int:
        api_client.cookies.clear()
        with DataStatements(connection) as captured:
            assert initiate(api_client, storefront_token).status_code == 200
        return len(captured)

    settings.TOKEN_CACHE_SECONDS = 0
    uncached = statements()
    settings.TOKEN_CACHE_SECONDS = 60
    miss = statements()
    hit = statements()

    assert hit == uncached
    assert miss == uncached + 4
    assert cached(storefront_token)


def test_revoking_a_token_takes_effect_on_the_next_request(api_client, shared_cache, storefront_token):
    assert initiate(api_client, storefront_token).status_code == 200
    assert cached(storefront_token)
    api_client.cookies.clear()
    before = Basket.objects.count()

    storefront_token.revoke()
    response = initiate(api_client, storefront_token)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert Basket.objects.count() == before


def test_deactivating_a_user_takes_effect_on_the_next_request(api_client, shared_cache, customer, customer_token):
    assert initiate(api_client, customer_token).status_code == 200
    assert cached(customer_token)
    api_client.cookies.clear()
    before = Basket.objects.count()

    customer.user.is_active = False
    customer.user.save(update_fields=["is_active"])
    response = initiate(api_client, customer_token)

    assert response.status_code == 401
    assert Basket.objects.count() == before


def test_taking_a_scope_from_an_application_takes_effect_on_its_tokens_next_request(api_client, shared_cache):
    application = ApplicationFactory(scopes="checkout baskets:read")
    token = AccessTokenFactory(application=application, scope="checkout baskets:read")
    assert initiate(api_client, token).status_code == 200
    assert cached(token)
    api_client.cookies.clear()
    before = Basket.objects.count()

    application.profile.allowed_scopes = "baskets:read"
    application.profile.save()
    refused = initiate(api_client, token)
    still_allowed = api_client.get("/api/checkout/abandoned", **bearer(token))

    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert Basket.objects.count() == before
    assert still_allowed.status_code == 200


def test_giving_a_scope_back_makes_the_token_work_again(api_client, shared_cache):
    # A token keeps the scopes it was granted; its application's profile only narrows them.
    application = ApplicationFactory(scopes="checkout")
    token = AccessTokenFactory(application=application, scope="checkout")
    application.profile.allowed_scopes = ""
    application.profile.save()
    assert initiate(api_client, token).status_code == 403

    application.profile.allowed_scopes = "checkout"
    application.profile.save()

    assert initiate(api_client, token).status_code == 200


def test_linking_a_customer_to_a_user_is_seen_on_the_next_request(api_client, shared_cache, storefront_app):
    user = UserFactory()
    token = AccessTokenFactory(application=storefront_app, user=user, scope="checkout")
    refused = initiate(api_client, token)
    assert refused.status_code == 403
    assert refused.json()["code"] == "no_customer_account"
    assert cached(token)

    customer = CustomerFactory(user=user)
    response = initiate(api_client, token)

    assert response.status_code == 200
    assert Basket.objects.filter(customer=customer).count() == 1  # the request acted as the new customer


def test_deleting_a_users_customer_is_seen_on_the_next_request(api_client, shared_cache, customer, customer_token):
    assert initiate(api_client, customer_token).status_code == 200
    assert cached(customer_token)
    api_client.cookies.clear()
    before = Basket.objects.count()

    Customer.objects.get(pk=customer.pk).delete()
    response = initiate(api_client, customer_token)

    assert response.status_code == 403
    assert response.json()["code"] == "no_customer_account"
    assert Basket.objects.count() == before


def test_deactivating_a_partner_takes_effect_on_the_next_request(api_client, shared_cache):
    from partners.models import Partner
    from tests.factories import PartnerClientFactory, PartnerFactory

    partner = PartnerFactory()
    application = PartnerClientFactory(partner=partner).application
    token = AccessTokenFactory(application=application, scope="partner")
    url = "/api/catalog/offers"
    assert api_client.get(url, **bearer(token)).status_code == 200
    assert cached(token)

    partner.active = False
    partner.save(update_fields=["active"])

    assert api_client.get(url, **bearer(token)).status_code == 401
    assert not Partner.objects.get(pk=partner.pk).active


def test_a_forgotten_token_cannot_be_put_back_by_a_request_that_read_it_before(storefront_token):
    # A request that loaded the token just before a revoke committed caches it with `add`: the
    # marker the revoke wrote stays, and the next request loads the token from the database.
    loaded = load_access_token(storefront_token.token, cached=False)
    token_cache.forget_tokens([storefront_token.token_checksum])

    token_cache.remember_token(loaded)

    assert not cached(storefront_token)


def test_a_refused_token_is_not_cached(api_client, storefront_token):
    storefront_token.user = UserFactory(is_active=False)
    storefront_token.save()

    assert initiate(api_client, storefront_token).status_code == 401
    assert not cached(storefront_token)


def test_with_the_cache_off_nothing_is_cached(api_client, settings, storefront_token):
    settings.TOKEN_CACHE_SECONDS = 0

    assert initiate(api_client, storefront_token).status_code == 200

    assert cache.get(f"oauth-token:{storefront_token.token_checksum}") is None
