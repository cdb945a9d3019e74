"""baskets.hooks: where other apps plug their basket checks and completion hooks in."""

import pytest

from baskets import hooks, selectors
from baskets.services import completion
from partners.selectors import check_partner_catalog
from partners.services import partner_basket_completed


@pytest.fixture
def registry(monkeypatch):
    """The registry as the apps left it, restored after the test."""
    monkeypatch.setattr(hooks, "_validation_checks", list(hooks.validation_checks()))
    monkeypatch.setattr(hooks, "_completion_hooks", list(hooks.completion_hooks()))


def test_partners_registers_its_check_and_hook_when_the_apps_are_ready():
    assert hooks.validation_checks() == (check_partner_catalog,)
    assert hooks.completion_hooks() == (partner_basket_completed,)
    # What validation and order completion run on top of baskets' own.
    assert selectors.configured_basket_checks() == (check_partner_catalog,)
    assert completion.configured_completion_hooks() == (partner_basket_completed,)


def test_registering_a_function_again_keeps_one_registration(registry):
    def check(validation):
        return ()

    def hook(*, basket, subscriptions, writes):
        return None

    assert hooks.register_validation_check(check) is check
    assert hooks.register_validation_check(check) is check
    assert hooks.register_validation_check(check_partner_catalog) is check_partner_catalog
    assert hooks.validation_checks() == (check_partner_catalog, check)

    assert hooks.register_completion_hook(hook) is hook
    assert hooks.register_completion_hook(hook) is hook
    assert hooks.register_completion_hook(partner_basket_completed) is partner_basket_completed
    assert hooks.completion_hooks() == (partner_basket_completed, hook)
