"""Partner organisations (resellers). Partner-scoped checkout arrives with the partner issue."""

from django.db import models


class Partner(models.Model):
    name = models.CharField(max_length=255)
    slug = models.SlugField(unique=True)
    active = models.BooleanField(default=True)
    contact_email = models.EmailField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
