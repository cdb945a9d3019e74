"""OAuth 2.0: client credentials, authorization code + PKCE for customers, revoke, introspect (API.md §2)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant

from baskets.models import Basket
from checkout_project.api.models import ClientProfile
from tests.conftest import bearer
from tests.factories import AccessTokenFactory, ApplicationFactory, CustomerFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests"
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://shop.example.com/callback"


def basic(client_id: str, secret: str) -> dict[str, str]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def client_credentials(client, application, *, scope: str | None = None, url: str = "/oauth2/token", **extra):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if not extra:
        data.update(client_id=application.client_id, client_secret=SECRET)
    return client.post(url, data, **extra)


def initiate(api_client, access_token: str):
    return api_client.post(
        "/api/checkout/initiate",
        {"order": {"orderItems": []}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {access_token}",
    )


# --- Client credentials ------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/oauth2/token", "/oauth2/token/"])
@pytest.mark.parametrize("credentials_in", ["body", "basic"])
def test_client_credentials_issue_a_one_hour_bearer_token(client, api_client, url, credentials_in):
    application = ApplicationFactory(scopes="checkout baskets:read")
    extra = basic(application.client_id, SECRET) if credentials_in == "basic" else {}
    before = timezone.now()

    response = client_credentials(client, application, scope="checkout", url=url, **extra)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert (body["expires_in"], body["token_type"], body["scope"]) == (3600, "Bearer", "checkout")
    token = AccessToken.objects.get()
    assert (token.application, token.user, token.scope) == (application, None, "checkout")
    assert before + timedelta(seconds=3595) <= token.expires <= timezone.now() + timedelta(seconds=3600)
    assert initiate(api_client, body["access_token"]).status_code == 200


def test_a_client_may_ask_for_several_of_its_scopes(client):
    application = ApplicationFactory(scopes="checkout:admin baskets:read")

    response = client_credentials(client, application, scope="checkout:admin baskets:read")

    assert response.status_code == 200
    assert response.json()["scope"] == "checkout:admin baskets:read"


def test_a_client_asking_for_no_scope_gets_none(client, api_client):
    application = ApplicationFactory(scopes="checkout baskets:read")

    response = client_credentials(client, application)

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == ""
    assert AccessToken.objects.get().scope == ""
    refused = initiate(api_client, response.json()["access_token"])
    assert refused.status_code == 403
    assert refused.json() == {"message": "This endpoint needs the 'checkout' scope.", "code": "insufficient_scope"}
    assert Basket.objects.count() == 0


@pytest.mark.parametrize("scope", ["partner", "checkout partner", "checkout:admin", "introspection", "read write"])
def test_a_scope_the_client_profile_does_not_allow_is_refused(client, scope):
    application = ApplicationFactory(scopes="checkout baskets:read")

    response = client_credentials(client, application, scope=scope)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_scope"}
    assert AccessToken.objects.count() == 0


def test_an_application_without_a_client_profile_gets_no_scope(client, api_client):
    application = Application.objects.create(
        name="unprofiled",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=SECRET,
    )
    assert not ClientProfile.objects.filter(application=application).exists()

    refused = client_credentials(client, application, scope="checkout")
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_scope"}

    scopeless = client_credentials(client, application)
    assert scopeless.status_code == 200
    assert scopeless.json()["scope"] == ""
    assert initiate(api_client, scopeless.json()["access_token"]).status_code == 403
    assert Basket.objects.count() == 0


@pytest.mark.parametrize("credentials_in", ["body", "basic"])
def test_a_wrong_client_secret_is_refused(client, credentials_in):
    application = ApplicationFactory(scopes="checkout")
    if credentials_in == "basic":
        response = client.post(
            "/oauth2/token", {"grant_type": "client_credentials"}, **basic(application.client_id, "x")
        )
    else:
        response = client.post(
            "/oauth2/token",
            {"grant_type": "client_credentials", "client_id": application.client_id, "client_secret": "x"},
        )

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert AccessToken.objects.count() == 0


# --- Authorization code + PKCE for customers ---------------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def public_app():
    application = Application.objects.create(
        name="storefront spa",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        client_secret="",
        hash_client_secret=False,
    )
    ClientProfile.objects.create(application=application, allowed_scopes="checkout")
    return application


@pytest.fixture
def shopper():
    return CustomerFactory(user__username="ada", email="ada@example.com")


def authorize_params(application, challenge: str, **overrides) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "checkout",
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def code_from(response) -> str:
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["state-123"]
    return query["code"][0]


def exchange(client, application, code: str, verifier: str | None):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": application.client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth2/token", data)


def test_the_hosted_login_page_renders_an_accessible_form(client):
    response = client.get("/accounts/login/", {"next": "/oauth2/authorize/?client_id=abc"})

    assert response.status_code == 200
    html = response.content.decode()
    # Issue 15: it asks for the e-mail address, in the hosted checkout pages' look.
    assert '<label for="id_username">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'type="email" name="username" id="id_username"' in html
    assert 'type="password" name="password" id="id_password"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<input type="hidden" name="next" value="/oauth2/authorize/?client_id=abc">' in html
    assert '<button type="submit" class="button button--primary">Sign in</button>' in html
    assert "/static/checkout/checkout.css" in html
    assert "<script" not in html


def test_the_login_page_says_when_the_credentials_are_wrong(client, shopper):
    response = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})

    assert response.status_code == 200
    assert '<div class="notice notice--error" role="alert" id="login-error">' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_authorization_code_with_pkce_gives_a_customer_token(client, api_client, public_app, shopper):
    verifier, challenge = pkce_pair()
    authorize_url = "/oauth2/authorize/?" + urlencode(authorize_params(public_app, challenge))

    # Not logged in: the hosted login page first, which then sends the customer back.
    to_login = client.get(authorize_url)
    assert to_login.status_code == 302
    login_location = urlsplit(to_login["Location"])
    assert (login_location.path, parse_qs(login_location.query)) == ("/accounts/login/", {"next": [authorize_url]})
    logged_in = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD, "next": authorize_url})
    assert logged_in.status_code == 302
    assert logged_in["Location"] == authorize_url

    consent = client.get(authorize_url)
    assert consent.status_code == 200
    assert "storefront spa" in consent.content.decode()
    approved = client.post("/oauth2/authorize/", {**authorize_params(public_app, challenge), "allow": "Authorize"})
    code = code_from(approved)

    response = exchange(client, public_app, code, verifier)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "checkout")
    token = AccessToken.objects.get()
    assert (token.user, token.application, token.scope) == (shopper.user, public_app, "checkout")

    created = initiate(api_client, body["access_token"])

    assert created.status_code == 200, created.json()
    basket = Basket.objects.get()
    assert (basket.customer, basket.application, basket.created_by_customer_token) == (shopper, public_app, True)


def test_skip_authorization_issues_the_code_without_a_consent_page(client, public_app, shopper):
    public_app.skip_authorization = True
    public_app.save()
    verifier, challenge = pkce_pair()
    client.login(username="ada", password=PASSWORD)

    code = code_from(client.get("/oauth2/authorize/", authorize_params(public_app, challenge)))

    response = exchange(client, public_app, code, verifier)
    assert response.status_code == 200, response.content
    assert AccessToken.objects.get().user == shopper.user


def _approved_code(client, application, challenge: str) -> str:
    client.login(username="ada", password=PASSWORD)
    return code_from(
        client.post("/oauth2/authorize/", {**authorize_params(application, challenge), "allow": "Authorize"})
    )


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_request"), ("a-different-verifier-" + "x" * 40, "invalid_grant")],
    ids=["missing verifier", "wrong verifier"],
)
def test_the_code_exchange_needs_the_right_code_verifier(client, public_app, shopper, verifier, error):
    _, challenge = pkce_pair()
    code = _approved_code(client, public_app, challenge)

    response = exchange(client, public_app, code, verifier)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert AccessToken.objects.count() == 0


def test_authorize_without_a_code_challenge_is_refused(client, public_app, shopper):
    client.login(username="ada", password=PASSWORD)

    response = client.get("/oauth2/authorize/", authorize_params(public_app, challenge=None))

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query
    assert Grant.objects.count() == 0


def test_the_plain_pkce_method_is_refused(client, public_app, shopper):
    # RFC 9700: S256 only; with "plain" the challenge is the verifier, readable wherever URLs are logged.
    client.login(username="ada", password=PASSWORD)
    params = authorize_params(public_app, "v" * 64, code_challenge_method="plain")

    response = client.post("/oauth2/authorize/", {**params, "allow": "Authorize"})

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query
    assert Grant.objects.count() == 0


def test_a_customer_cannot_be_granted_a_scope_beyond_the_applications_profile(client, public_app, shopper):
    _, challenge = pkce_pair()
    client.login(username="ada", password=PASSWORD)

    response = client.get("/oauth2/authorize/", authorize_params(public_app, challenge, scope="checkout:admin"))

    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_scope"]
    assert Grant.objects.count() == 0


# --- Revocation and introspection --------------------------------------------------------


def test_a_token_in_the_query_string_is_not_accepted(client, api_client, backoffice_token):
    # Bearer tokens travel in the Authorization header only (RFC 9700): URLs end up in logs.
    response = api_client.get("/api/checkout/abandoned", {"access_token": backoffice_token.token})

    assert response.status_code == 401
    assert (
        api_client.get("/api/checkout/abandoned", HTTP_AUTHORIZATION=f"Bearer {backoffice_token.token}").status_code
        == 200
    )


def test_a_revoked_token_is_refused_by_the_api(client, api_client):
    application = ApplicationFactory(scopes="checkout")
    access_token = client_credentials(client, application, scope="checkout").json()["access_token"]
    assert initiate(api_client, access_token).status_code == 200

    revoked = client.post(
        "/oauth2/revoke_token/",
        {"token": access_token, "client_id": application.client_id, "client_secret": SECRET},
    )

    assert revoked.status_code == 200
    refused = initiate(api_client, access_token)
    assert refused.status_code == 401
    assert refused.json() == {"message": "Unauthorized", "code": "unauthorized"}
    assert Basket.objects.count() == 1


def test_a_customer_token_is_revoked_by_its_public_client(client, api_client, public_app, shopper):
    verifier, challenge = pkce_pair()
    code = _approved_code(client, public_app, challenge)
    access_token = exchange(client, public_app, code, verifier).json()["access_token"]

    revoked = client.post("/oauth2/revoke_token/", {"token": access_token, "client_id": public_app.client_id})

    assert revoked.status_code == 200
    assert initiate(api_client, access_token).status_code == 401
    assert Basket.objects.count() == 0


def test_another_client_cannot_revoke_a_token(client, api_client):
    owner = ApplicationFactory(scopes="checkout")
    stranger = ApplicationFactory(scopes="checkout")
    access_token = client_credentials(client, owner, scope="checkout").json()["access_token"]

    response = client.post(
        "/oauth2/revoke_token/", {"token": access_token, "client_id": stranger.client_id, "client_secret": SECRET}
    )

    # The stranger authenticated (a wrong secret would be refused before the token is looked at) and
    # was answered as for a token it does not have (RFC 7009): the owner's token still works.
    assert response.status_code == 200, response.content
    assert initiate(api_client, access_token).status_code == 200


def test_a_deactivated_users_token_stops_working_at_once(api_client, customer, customer_token):
    assert initiate(api_client, customer_token.token).status_code == 200
    api_client.cookies.clear()
    customer.user.is_active = False
    customer.user.save(update_fields=["is_active"])
    before = Basket.objects.count()

    response = initiate(api_client, customer_token.token)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert Basket.objects.count() == before


def introspector_token(client):
    """A resource server's token: client credentials for the `introspection` scope its profile allows."""
    resource_server = ApplicationFactory(scopes="introspection")
    response = client_credentials(client, resource_server, scope="introspection")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def test_introspection_answers_active_with_the_scope(client):
    issuing = ApplicationFactory(scopes="checkout baskets:read")
    access_token = client_credentials(client, issuing, scope="checkout baskets:read").json()["access_token"]
    token = AccessToken.objects.get()
    introspector = introspector_token(client)

    response = client.post("/oauth2/introspect/", {"token": access_token}, HTTP_AUTHORIZATION=f"Bearer {introspector}")

    assert response.status_code == 200
    assert response.json() == {
        "active": True,
        "scope": "checkout baskets:read",
        "exp": int(token.expires.timestamp()),
        "client_id": issuing.client_id,
    }


def test_introspection_of_a_revoked_or_unknown_token_is_inactive(client):
    application = ApplicationFactory(scopes="checkout")
    access_token = client_credentials(client, application, scope="checkout").json()["access_token"]
    AccessToken.objects.get(token_checksum=hashlib.sha256(access_token.encode()).hexdigest()).revoke()
    introspector = introspector_token(client)

    for value in (access_token, "never-issued"):
        response = client.post("/oauth2/introspect/", {"token": value}, HTTP_AUTHORIZATION=f"Bearer {introspector}")
        assert response.status_code == 200
        assert response.json() == {"active": False}


def test_a_client_cannot_introspect_with_its_own_credentials(client):
    # DOT's default would let any confidential client read other clients' tokens this way.
    application = ApplicationFactory(scopes="checkout")
    access_token = client_credentials(client, application, scope="checkout").json()["access_token"]

    response = client.post("/oauth2/introspect/", {"token": access_token}, **basic(application.client_id, SECRET))

    assert response.status_code == 403


def test_self_service_application_management_is_not_mounted(client):
    assert client.get("/oauth2/applications/").status_code == 404
    assert client.get("/oauth2/authorized_tokens/").status_code == 404


def test_introspection_refuses_a_bearer_token_without_the_introspection_scope(client):
    token = AccessTokenFactory(application=ApplicationFactory(scopes="checkout"), scope="checkout")

    response = client.post("/oauth2/introspect/", {"token": token.token}, **bearer(token))

    assert response.status_code == 403


def test_introspection_refuses_anonymous_callers(client):
    token = AccessTokenFactory(application=ApplicationFactory(scopes="checkout"), scope="checkout")

    response = client.post("/oauth2/introspect/", {"token": token.token})

    assert response.status_code == 403
