"""Every answer under /api is JSON in the contract's error shape (API.md §1), also the ones Django
itself gives before any of our views runs (issue 14): a failed CSRF check, a path that is not
routed (even /api without its slash), a wrong method on the plain views, a crash."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from baskets import pages
from checkout_project.api.errors import csrf_failure, handler500
from tests.factories import BasketFactory

pytestmark = pytest.mark.django_db


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["code"] == code
    assert set(body) <= {"message", "code", "details"} and isinstance(body["message"], str)
    return body


@pytest.mark.parametrize("url", ["/api/checkout/recover", "/api/checkout/assisted"])
def test_a_post_to_a_link_handler_is_a_json_405_even_with_csrf_checks_on(url):
    # A real browser's or client's POST: Django's test client skips CSRF checks unless told.
    basket = BasketFactory()

    response = Client(enforce_csrf_checks=True).post(f"{url}?basketId={basket.public_id}", {"recover": "x"})

    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_a_failed_csrf_check_under_api_is_a_json_403():
    assert settings.CSRF_FAILURE_VIEW == "checkout_project.api.errors.csrf_failure"

    response = csrf_failure(RequestFactory().post("/api/checkout/recover"), reason="CSRF cookie not set.")

    assert_json_error(response, 403, "forbidden")


def test_a_failed_csrf_check_elsewhere_is_django_s_page():
    # The login form keeps Django's own page (it has a form that carries the token).
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", ["/api", "/api/", "/api/nowhere", "/api/checkout/initiate/extra"])
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_an_unrouted_api_path_is_a_json_404(url, method):
    response = getattr(Client(), method)(url)

    assert_json_error(response, 404, "not_found")


def test_a_path_that_only_starts_like_the_api_keeps_the_html_404():
    response = Client().get("/apiary")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_crash_under_api_is_a_json_500(monkeypatch):
    def crash(request, kind):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages, "_follow_link", crash)

    response = Client(raise_request_exception=False).get("/api/checkout/recover?basketId=x&recover=y")

    assert_json_error(response, 500, "server_error")


@pytest.mark.parametrize("path", ["/api", "/api/anything"])
def test_the_500_handler_answers_json_for_the_api(path):
    assert_json_error(handler500(RequestFactory().get(path)), 500, "server_error")


def test_the_500_handler_keeps_the_html_page_elsewhere():
    response = handler500(RequestFactory().get("/checkout/"))

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def api_paths() -> list[str]:
    """A concrete path for every route under /api (router routes and plain ones)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix: str = "") -> list[str]:
        found = []
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                found += walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                found.append(route)
        return found

    paths = set()
    for route in walk(get_resolver().url_patterns):
        path = "/" + route.replace("^", "").replace("$", "")
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "basket-00000000000000000000000000000000", path)
        path = re.sub(r"<(\w+:)?\w+>", "x", path)
        if path.startswith("/api"):
            paths.add(path)
    return sorted(paths)


# Pages for a browser by design (API.md §5; the API docs): their GET answers HTML.
HTML_BY_DESIGN = {"/api/checkout/recover", "/api/checkout/assisted", "/api/docs/"}


@pytest.mark.parametrize("path", api_paths())
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_refusal_under_api_is_json_in_the_error_shape(path, method):
    if method == "GET" and path in HTML_BY_DESIGN:
        pytest.skip("a browser page by design")
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)

    response = client.generic(method, path, "x=%00", content_type="application/x-www-form-urlencoded")

    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json", (response.status_code, response.content[:200])
        assert {"message", "code"} <= set(response.json())
