"""Partner authentication (API.md §2, §8): the scopes backend, deactivation, who may call what."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import AccessToken

from baskets.models import Basket
from checkout_project.api.actor import Actor
from checkout_project.api.auth import ApplicationScopes, actor_from_request
from partners.models import Partner
from partners.services import partner_client_link
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory, OfferFactory, PartnerClientFactory
from tests.partners.conftest import partner_basket

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"
INITIATE = "/api/partner/checkout/initiate"


def ask_token(client, application, scope: str):
    return client.post(
        "/oauth2/token",
        {"grant_type": "client_credentials", "client_id": application.client_id, "client_secret": SECRET,
         "scope": scope},
    )  # fmt: skip


def partner_initiate(api_client, token, offer):
    return api_client.post(INITIATE, {"order": {"orderItems": [{"offer": {"id": offer.id}}]}}, format="json",
                           **bearer(token))  # fmt: skip


# --- The scopes backend ---------------------------------------------------------------------------


def test_a_partner_client_is_granted_the_partner_scope(client, partner):
    application = PartnerClientFactory(partner=partner).application

    response = ask_token(client, application, "partner")

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "partner"


@pytest.mark.parametrize("scope", ["checkout", "checkout:admin", "baskets:read", "partner checkout"])
def test_a_partner_client_cannot_get_any_other_scope(client, partner, scope):
    # Even with a profile that lists them: being a partner's client is what decides.
    application = PartnerClientFactory(
        partner=partner, application=ApplicationFactory(scopes="partner checkout checkout:admin baskets:read")
    ).application

    response = ask_token(client, application, scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_a_non_partner_client_cannot_get_the_partner_scope_even_if_its_profile_lists_it(client):
    application = ApplicationFactory(scopes="checkout partner")

    refused = ask_token(client, application, "partner")
    granted = ask_token(client, application, "checkout")

    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert granted.status_code == 200
    assert granted.json()["scope"] == "checkout"


def test_a_deactivated_partners_client_gets_no_token(client, partner):
    application = PartnerClientFactory(partner=partner).application
    Partner.objects.filter(pk=partner.pk).update(active=False)

    response = ask_token(client, application, "partner")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_partners_authorization_code_application_gets_no_partner_scope(partner):
    # A partner acts through client credentials; a login through its application would otherwise
    # hand every customer who signs in the partner's reach.
    application = PartnerClientFactory(
        partner=partner,
        application=ApplicationFactory(
            authorization_grant_type="authorization-code", client_type="public", redirect_uris="https://p.example/cb"
        ),
    ).application

    assert ApplicationScopes().get_available_scopes(application=application) == []


def test_a_partner_token_that_belongs_to_a_user_is_refused_with_401(api_client, partner, customer):
    # Issued before this rule (or by hand): the token check refuses it as it would an unknown one.
    application = PartnerClientFactory(partner=partner).application
    token = AccessTokenFactory(application=application, user=customer.user, scope="partner")
    before = Basket.objects.count()

    response = partner_initiate(api_client, token, OfferFactory())

    assert response.status_code == 401
    assert Basket.objects.count() == before


def test_a_deactivated_partners_token_is_inactive_on_introspection(client, partner, token):
    resource_server = ApplicationFactory(scopes="introspection")
    introspector = ask_token(client, resource_server, "introspection").json()["access_token"]

    def introspect():
        response = client.post(
            "/oauth2/introspect/", {"token": token.token}, HTTP_AUTHORIZATION=f"Bearer {introspector}"
        )
        assert response.status_code == 200
        return response.json()

    assert introspect()["active"] is True
    Partner.objects.filter(pk=partner.pk).update(active=False)
    assert introspect() == {"active": False}


# --- Deactivation ---------------------------------------------------------------------------------


def test_deactivating_a_partner_stops_its_tokens_at_once_with_401(api_client, partner, token):
    offer = OfferFactory()
    assert partner_initiate(api_client, token, offer).status_code == 200
    api_client.cookies.clear()
    before = Basket.objects.count()

    partner.active = False
    partner.save(update_fields=["active"])
    response = partner_initiate(api_client, token, offer)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Basket.objects.count() == before


def test_reactivating_a_partner_makes_its_unexpired_tokens_work_again(api_client, partner, token):
    Partner.objects.filter(pk=partner.pk).update(active=False)
    offer = OfferFactory()
    assert partner_initiate(api_client, token, offer).status_code == 401

    Partner.objects.filter(pk=partner.pk).update(active=True)

    assert partner_initiate(api_client, token, offer).status_code == 200


def test_the_partner_check_costs_no_query_the_token_load_brings_the_partner_along(api_client, partner, token):
    # One SELECT loads the token with its application's partner link and partner.
    basket = partner_basket(token, OfferFactory())
    url = f"/api/partner/checkout/validate/{basket.public_id}"
    with CaptureQueriesContext(connection) as captured:
        response = api_client.post(url, **bearer(token))
    assert response.status_code == 200
    token_queries = [q["sql"] for q in captured.captured_queries if "oauth2_provider_accesstoken" in q["sql"]]
    assert len(token_queries) == 1
    assert "partners_partner" in token_queries[0]
    assert not any(
        "partners_partnerclient" in q["sql"] and "oauth2_provider_accesstoken" not in q["sql"]
        for q in captured.captured_queries
    )


# --- Who may call what ----------------------------------------------------------------------------


def test_actor_from_request_carries_the_partner(rf, partner, token):
    request = rf.get("/")
    request.auth = AccessToken.objects.select_related("application__partner_client__partner").get(pk=token.pk)

    actor = actor_from_request(request)

    assert isinstance(actor, Actor)
    assert actor.partner == partner
    assert actor.application == token.application
    assert actor.is_customer_token is False
    assert actor.scopes == frozenset({"partner"})


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/checkout/initiate"),
        ("put", "/api/checkout/update"),
        ("get", "/api/checkout/subscription"),
        ("post", "/api/checkout/subscription"),
        ("put", "/api/checkout/subscription"),
        ("get", "/api/checkout/abandoned"),
        ("post", "/api/order"),
        ("post", "/api/admin/checkout/initiate"),
        ("post", "/api/admin/checkout/initiate/renew"),
        ("post", "/api/admin/v2/promo_code"),
    ],
)
def test_partner_tokens_are_refused_on_public_and_admin_endpoints(api_client, token, method, url):
    before = Basket.objects.count()

    response = getattr(api_client, method)(url, {}, format="json", **bearer(token), HTTP_X_LIMIO_RECAPTCHA="pass")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert Basket.objects.count() == before


def test_a_token_with_checkout_scope_stops_working_on_public_endpoints_once_its_client_joins_a_partner(
    api_client, partner, storefront_app, storefront_token
):
    offer = OfferFactory()
    body = {"order": {"orderItems": [{"offer": {"id": offer.id}}]}}
    assert api_client.post("/api/checkout/initiate", body, format="json", **bearer(storefront_token)).status_code == 200
    api_client.cookies.clear()

    partner_client_link(partner=partner, application=storefront_app)
    response = api_client.post("/api/checkout/initiate", body, format="json", **bearer(storefront_token))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert Basket.objects.count() == 1


def test_a_partner_scoped_token_of_a_client_that_left_its_partner_is_refused(api_client, partner, token):
    token.application.partner_client.delete()
    offer = OfferFactory()

    response = partner_initiate(api_client, AccessToken.objects.get(pk=token.pk), offer)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not Basket.objects.exists()


@pytest.mark.parametrize("scope", ["checkout", "checkout:admin baskets:read"])
def test_storefront_and_admin_tokens_are_refused_on_partner_endpoints(api_client, scope):
    token = AccessTokenFactory(application=ApplicationFactory(scopes=scope), scope=scope)

    response = partner_initiate(api_client, token, OfferFactory())

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not Basket.objects.exists()


def test_no_token_is_401_on_partner_endpoints(api_client):
    response = api_client.post(INITIATE, {}, format="json")

    assert response.status_code == 401
    assert not Basket.objects.exists()
