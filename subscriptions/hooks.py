"""Where other apps narrow the catalog a caller reads, without subscriptions importing them.

An app registers a catalog restriction from its AppConfig.ready() (partners.apps does): a function
of the caller (checkout_project.api.actor.Actor) answering a condition on offers (a `Q` or a
boolean expression such as `Exists(...)`, evaluated inside the catalog's one query), or None when
it has nothing to say about this caller. `catalog_offers` lists only the offers every registered
restriction admits. Registering the same function again keeps one registration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checkout_project.api.actor import Actor

CatalogRestriction = Callable[["Actor"], Any]

_catalog_restrictions: list[CatalogRestriction] = []


def register_catalog_restriction(restriction: CatalogRestriction) -> CatalogRestriction:
    """Admit only the offers `restriction(actor)` allows into the catalog `actor` reads."""
    if restriction not in _catalog_restrictions:
        _catalog_restrictions.append(restriction)
    return restriction


def catalog_restrictions() -> tuple[CatalogRestriction, ...]:
    """The registered catalog restrictions, in registration order."""
    return tuple(_catalog_restrictions)
