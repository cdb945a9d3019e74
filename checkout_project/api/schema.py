"""OpenAPI: every operation lists the OAuth scope its action requires."""

from drf_spectacular.openapi import AutoSchema


class ScopedAutoSchema(AutoSchema):
    def get_auth(self):
        scope = getattr(self.view, "required_scope", None)
        if scope is None:
            return []
        # Alternatives are separate requirements: OpenAPI reads a list of them as "any of".
        return [{"oauth2": [accepted]} for accepted in (scope, *getattr(self.view, "also_accepted_scopes", ()))]

    def get_tags(self):
        return getattr(self.view, "schema_tags", None) or super().get_tags()
