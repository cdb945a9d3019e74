"""A short-lived cache of checked access tokens, in the shared cache (CACHES["default"]).

Loading a token is the largest part of a cheap request's cost: one query joining the token, its
application and that application's client profile, the user, the user's customer and the
application's partner, and six model instances built from ~70 columns. A token that passes the
check is kept, with what was loaded along with it, for TOKEN_CACHE_SECONDS (default 60; 0 turns
the cache off) under a key made from its SHA-256 checksum: the token itself never enters the
cache. Its expiry and scopes are still checked on every request, on the cached copy.

Every write that can change a token's answer forgets the entries of the tokens it concerns, for
every worker and app server at once, since they all read the same cache:

- the token saved or deleted (revoked; `cleartokens`);
- its user saved (deactivated) or its customer saved;
- its application saved or deleted, or the application's client profile (its allowed scopes);
- the application's partner organisation saved (deactivated), or its partner link changed
  (connected in partners.apps).

Forgetting writes a marker in place of the entry, for as long as an entry lives, and a token is
cached only with `add` (never over an existing key): a request that read the token just before
the write committed cannot put its stale copy back. The marker is written when the change is
saved and again once its transaction commits; with the database cache, the first write is part of
the same transaction, so a rolled-back change forgets nothing.

Writes through `QuerySet.update()` send no signal and so forget nothing: change these models
with `save()` (the admin and every service here do); a deactivation by `update()` takes effect
when the entry expires, after at most TOKEN_CACHE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import AccessToken, Application

from checkout_project.api.models import ClientProfile

FORGOTTEN = "forgotten"


def token_key(checksum: str) -> str:
    return f"oauth-token:{checksum}"


def cached_token(checksum: str) -> AccessToken | None:
    """The cached copy of the token with this checksum, or None (not cached, or forgotten)."""
    if not settings.TOKEN_CACHE_SECONDS:
        return None
    entry = cache.get(token_key(checksum))
    return entry if isinstance(entry, AccessToken) else None


def remember_token(access_token: AccessToken) -> None:
    """Caches a token that passed the check, unless it is cached or was just forgotten."""
    if settings.TOKEN_CACHE_SECONDS:
        cache.add(token_key(access_token.token_checksum), access_token, settings.TOKEN_CACHE_SECONDS)


def forget_tokens(checksums: Iterable[str]) -> None:
    """Forget these tokens everywhere: now, and again once the current transaction commits."""
    if not settings.TOKEN_CACHE_SECONDS:
        return
    markers = {token_key(checksum): FORGOTTEN for checksum in checksums if checksum}
    if not markers:
        return
    timeout = settings.TOKEN_CACHE_SECONDS
    cache.set_many(markers, timeout)
    transaction.on_commit(lambda: cache.set_many(markers, timeout))


def forget_tokens_where(**lookup: object) -> None:
    """Forget every token matching this AccessToken lookup (e.g. user=..., application_id=...)."""
    if settings.TOKEN_CACHE_SECONDS:
        forget_tokens(AccessToken.objects.filter(**lookup).values_list("token_checksum", flat=True))


def _token_changed(sender, instance: AccessToken, created: bool = False, **kwargs) -> None:
    if not created:  # a new token is in no cache; a marker would keep it out for a while
        forget_tokens([instance.token_checksum])


def _user_changed(sender, instance, created: bool = False, **kwargs) -> None:
    if not created:
        forget_tokens_where(user_id=instance.pk)


def _application_changed(sender, instance: Application, created: bool = False, **kwargs) -> None:
    if not created:
        forget_tokens_where(application_id=instance.pk)


def _profile_changed(sender, instance: ClientProfile, **kwargs) -> None:
    forget_tokens_where(application_id=instance.application_id)


def connect() -> None:
    """Connect the invalidations of the models this package knows (ApiConfig.ready)."""
    from django.contrib.auth import get_user_model

    post_save.connect(_token_changed, sender=AccessToken, dispatch_uid="token_cache.token_saved")
    post_delete.connect(_token_changed, sender=AccessToken, dispatch_uid="token_cache.token_deleted")
    post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="token_cache.user_saved")
    post_save.connect(_application_changed, sender=Application, dispatch_uid="token_cache.application_saved")
    post_delete.connect(_application_changed, sender=Application, dispatch_uid="token_cache.application_deleted")
    post_save.connect(_profile_changed, sender=ClientProfile, dispatch_uid="token_cache.profile_saved")
    post_delete.connect(_profile_changed, sender=ClientProfile, dispatch_uid="token_cache.profile_deleted")
