"""OpenAPI: every operation lists the OAuth scope its action requires."""

from drf_spectacular.openapi import AutoSchema


class ScopedAutoSchema(AutoSchema):
    def get_auth(self):
        scope = getattr(self.view, "required_scope", None)
        if scope is None:
            return []
        return [{"oauth2": [scope]}]

    def get_tags(self):
        return getattr(self.view, "schema_tags", None) or super().get_tags()
