"""Where other apps plug into baskets without baskets importing them.

An app registers its functions from its AppConfig.ready() (partners.apps does):

- validation checks (baskets.selectors.BasketCheck), run after baskets' own on every validation
  (partner validate, order completion on every path);
- completion hooks, called with `basket=` and `subscriptions=` (those a `new` order created)
  inside the completing transaction, before the payment (baskets.services.completion).

Registering the same function again keeps one registration; they run in registration order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baskets.selectors import BasketCheck

CompletionHook = Callable[..., Any]

_validation_checks: list[BasketCheck] = []
_completion_hooks: list[CompletionHook] = []


def register_validation_check(check: BasketCheck) -> BasketCheck:
    """Run `check` on every basket validation, after baskets' own checks."""
    if check not in _validation_checks:
        _validation_checks.append(check)
    return check


def register_completion_hook(hook: CompletionHook) -> CompletionHook:
    """Call `hook` whenever a `new` order completes, inside the completing transaction."""
    if hook not in _completion_hooks:
        _completion_hooks.append(hook)
    return hook


def validation_checks() -> tuple[BasketCheck, ...]:
    """The registered validation checks, in registration order."""
    return tuple(_validation_checks)


def completion_hooks() -> tuple[CompletionHook, ...]:
    """The registered completion hooks, in registration order."""
    return tuple(_completion_hooks)
