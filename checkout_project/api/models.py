"""API plumbing state: which scopes an OAuth client may be granted, idempotency records, the cache's table."""

from django.conf import settings
from django.db import models


class ClientProfile(models.Model):
    """The scopes an OAuth application may ask for. An application without a profile gets none."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    allowed_scopes = models.CharField(
        max_length=255, blank=True, help_text="Space-separated, e.g. 'checkout baskets:read'"
    )

    def __str__(self) -> str:
        return f"{self.application} [{self.allowed_scopes}]"

    @property
    def scopes(self) -> list[str]:
        return self.allowed_scopes.split()


class IdempotencyRecord(models.Model):
    """The first answer to a (client, Idempotency-Key) pair, replayed for 24 hours."""

    # "<application id>:<user id or ->": a key never replays one customer's answer to another.
    client_key = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    # The landing-state cookie the first request carried: a retry must carry it too, or the one
    # the first answer set (a client that kept that answer's cookie is still retrying).
    landing_state = models.CharField(max_length=255, blank=True, default="")
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    headers = models.JSONField(default=dict)
    cookies = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_key", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_key} {self.key}"


class CacheEntry(models.Model):
    """A row of the default cache (checkout_project.api.cache.DatabaseCache, LOCATION `checkout_cache`).

    The same columns as Django's `createcachetable` makes; declared as a model so that `migrate`
    creates the table on every database, whichever cache the settings name at the time, and so
    that the test database is flushed with the rest. Only the cache backend reads and writes it.
    """

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "checkout_cache"
        verbose_name_plural = "cache entries"

    def __str__(self) -> str:
        return self.cache_key
