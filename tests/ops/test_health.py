"""/healthz (the process answers) and /readyz (the database answers SELECT 1)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError, connection


def test_healthz_answers_without_the_database(client):
    # No django_db mark: pytest-django fails the test if the view touches the database.
    answer = client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "no-cache" in answer["Cache-Control"]


def test_healthz_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers(client):
    answer = client.get("/readyz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_does_not_answer(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        answer = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable", "database": "OperationalError"}


def test_probes_need_no_token_and_are_not_under_api(client):
    # Outside /api: no OAuth, no DRF, and so no throttling.
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 200
