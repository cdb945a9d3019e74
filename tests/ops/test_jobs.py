"""What the cron commands share (checkout_project.jobs.BatchJobCommand)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

COMMANDS = ["expire_baskets", "apply_pending_changes"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args", [("--batch-size", "0"), ("--max-batches", "0"), ("--batch-size", "-3")])
def test_nonsense_limits_are_refused(command, args):
    with pytest.raises(CommandError):
        call_command(command, *args, stdout=StringIO())


@pytest.mark.parametrize("command", COMMANDS)
def test_json_prints_one_object_of_counts(command):
    out = StringIO()
    call_command(command, "--json", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts and all(value == 0 for value in counts.values())
