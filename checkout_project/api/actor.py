"""Who makes a request: the OAuth caller (application, user, customer, partner) or a staff user.

Built by the plumbing (checkout_project.api.auth) from the token; carried into every service and
recorded on every basket event. Its fields hold other apps' rows without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    application: Any = None  # oauth2_provider Application
    user: Any = None  # the token's user (customer tokens) or the staff user (admin pages)
    customer: Any = None  # subscriptions.Customer of a customer token
    partner: Any = None  # partners.Partner of a partner token
    is_customer_token: bool = False
    is_staff: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def client_key(self) -> str:
        """Identifies the caller for idempotency: the application, and the user of a customer token."""
        app = self.application.pk if self.application is not None else "-"
        user = self.user.pk if self.user is not None else "-"
        return f"{app}:{user}"
